"""One settings model: defaults < ``vde.toml`` < ``VDE_*`` environment < command-line flags.

Every setting is declared once here with its default and help text; the README's settings
table is checked against this model by ``tests/test_docs.py``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vde.errors import SettingsError
from vde.timeutil import parse_duration


def _duration(v: Any) -> Any:
    if isinstance(v, str) and not v.strip().lstrip("-").isdigit():
        return parse_duration(v)
    return v


def _csv_list(v: Any) -> Any:
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    return v


Seconds = Annotated[int, BeforeValidator(_duration)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_csv_list)]

DEFAULT_FILE = "vde.toml"


class Settings(BaseSettings):
    """vde's settings. Durations accept seconds or '30s', '5m', '4h', '2d', '1w'."""

    model_config = SettingsConfigDict(
        env_prefix="VDE_", extra="forbid", validate_default=True, env_nested_delimiter=None
    )

    database: str = Field(
        "sqlite:///vde.db",
        description="Database URL: sqlite:///path or cassandra://host1,host2:9042/keyspace?replication_factor=3",
    )
    flukso_api_url: str = Field(
        "https://api.flukso.net",
        description="Base URL of the Flukso API (the simulator's URL in the demo and tests)",
    )
    flukso_ca_bundle: str | None = Field(
        None, description="CA bundle (PEM) to trust for the Flukso API's self-signed certificate"
    )
    flukso_concurrency: int = Field(
        16,
        ge=1,
        le=256,
        description="Requests in flight to the Flukso API at first, across sensors",
    )
    flukso_concurrency_max: int = Field(
        64,
        ge=1,
        le=1024,
        description=(
            "Most requests in flight to the Flukso API: from flukso_concurrency the limit grows"
            " while latency stays flat and halves on 429, 5xx or timeouts"
        ),
    )
    flukso_http2: bool = Field(
        True, description="Use HTTP/2 with the Flukso API when it offers it (ALPN over TLS)"
    )
    flukso_timeout: Seconds = Field(30, ge=1, description="Timeout of one Flukso request")
    flukso_retries: int = Field(
        5, ge=0, le=20, description="Retries of a failed Flukso request (backoff with jitter)"
    )
    block_cache: str = Field(
        "vde-blocks.sqlite", description="Local tmpo block cache file (SQLite)"
    )
    backfill_horizon: Seconds = Field(
        30 * 86400, ge=0, description="How far back a new sensor is first fetched"
    )
    retry_horizon: Seconds = Field(
        2 * 86400,
        ge=0,
        description=(
            "Missing and estimated intervals younger than this are re-fetched on every sync"
        ),
    )
    gap_threshold: Seconds = Field(
        4 * 3600,
        ge=8,
        description=(
            "How far before a re-fetched window its bracketing counters are looked for; spans"
            " longer than this are stored too when two counters prove them (flat, estimated)"
        ),
    )
    raw_retention: Seconds = Field(
        0,
        ge=0,
        description=(
            "8-s raw rows older than this are deleted once their 1-min rollup exists"
            " (vde db prune, and after each sync); 0 keeps them forever"
        ),
    )
    power_retention: Seconds = Field(
        0,
        ge=0,
        description=(
            "8-s installation power rows older than this are deleted once their 1-min rollup"
            " exists; 0 keeps them forever. Rollups are always kept"
        ),
    )
    sync_shards: int = Field(
        16,
        ge=1,
        le=4096,
        description=(
            "Shards the sensors are split into for sharded sync (vde sync --workers); every"
            " cooperating process must use the same number"
        ),
    )
    alert_missing_share: float = Field(
        0.01, ge=0, le=1, description="Alert when this share of a day's 8-s slots has no data"
    )
    alert_sign_threshold_w: float = Field(
        10.0,
        ge=0,
        description="Alert when consumption < -threshold [W] (production: see alert_standby_w)",
    )
    alert_night_threshold_w: float = Field(
        10.0,
        ge=0,
        description="Alert when production < -threshold while the sun is below the horizon [W]",
    )
    alert_standby_w: float = Field(
        30.0,
        ge=0,
        description="Positive production up to this is inverter standby draw, never an alert [W]",
    )
    alert_repeat: Seconds = Field(
        86400, ge=0, description="An unchanged alert already sent is sent again after this long"
    )
    smtp_host: str | None = Field(
        None, description="SMTP server host; alerts are printed, not sent, when unset"
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls, tls (implicit) or none"
    )
    smtp_user: str | None = Field(None, description="SMTP user name")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (never logged)")
    smtp_sender: str = Field("vde@localhost", description="From address of alert emails")
    smtp_recipients: CsvList = Field(
        default_factory=list,
        description="Comma-separated administrator addresses that receive alerts",
    )
    timezone: str = Field("Europe/Brussels", description="Time zone of days in the UI and reports")
    latitude: float = Field(
        50.85, ge=-90, le=90, description="Default installation latitude (sun position checks)"
    )
    longitude: float = Field(4.35, ge=-180, le=180, description="Default installation longitude")
    locations: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Per-installation (latitude, longitude), in vde.toml: [locations] CDB001 = [50.8, 4.3]",
    )
    host: str = Field("127.0.0.1", description="Address the web server listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port the web server listens on")
    public_url: str | None = Field(
        None,
        description="Dashboard address as members reach it (e.g. https://vde.example.org); "
        "used in invitation links and on the admin page; default http://host:port",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs session cookies; generated and kept in the database when unset",
    )
    sync_every: Seconds | None = Field(
        None, ge=1, le=7 * 86400, description="In `vde serve`, run a sync this often (e.g. 5m)"
    )
    alerts_at: str | None = Field(
        None, description="In `vde serve`, run alerts daily at this local time (HH:MM)"
    )
    tariff_import_eur_kwh: float | None = Field(
        None,
        ge=0,
        description="Dashboard costs: price of grid import [EUR/kWh]; costs are hidden when unset",
    )
    tariff_export_eur_kwh: float | None = Field(
        None, ge=0, description="Dashboard costs: price paid for grid export [EUR/kWh]"
    )
    tariff_night_import_eur_kwh: float | None = Field(
        None,
        ge=0,
        description="Dashboard costs: import price during tariff_night_hours [EUR/kWh]",
    )
    tariff_night_hours: str | None = Field(
        None,
        pattern=r"^([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-3])$",
        description="Dashboard costs: local hours of the night tariff, start-end (e.g. 22-7)",
    )
    sharing_price_shared: float = Field(
        0.15, ge=0, description="Energy sharing: price a consumer pays for shared energy [EUR/kWh]"
    )
    sharing_price_supplier: float = Field(
        0.32, ge=0, description="Energy sharing: supplier price of grid offtake [EUR/kWh]"
    )
    sharing_price_injection: float = Field(
        0.04, ge=0, description="Energy sharing: price a supplier pays for injection [EUR/kWh]"
    )
    sharing_network_reduction: float = Field(
        0.0, ge=0, description="Energy sharing: network-cost reduction per kWh shared [EUR/kWh]"
    )
    sharing_keys: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="Energy sharing keys per community, in vde.toml: [[sharing_keys.CDBZ01]]"
        " valid_from, method, shares, order (see README, Energy sharing)",
    )
    sharing_statement_emails: dict[str, str] = Field(
        default_factory=dict,
        description="Address of each member's monthly sharing statement, in vde.toml:"
        " [sharing_statement_emails] CDB001 = 'name@example.org'; others go to smtp_recipients",
    )
    export_folder: str = Field(
        "vde-export",
        description="Folder `vde export` writes its files and manifest.json to"
        " (staged there before an SFTP push)",
    )
    export_to: str | None = Field(
        None,
        description="Where `vde serve --export-at` sends its export:"
        " sftp://user@host:port/path (default: export_folder only)",
    )
    export_at: str | None = Field(
        None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="In `vde serve`, export what is new daily at this local time (HH:MM)",
    )
    export_format: Literal["csv", "parquet"] = Field(
        "csv", description="Format of the scheduled export: csv or parquet"
    )
    export_resolution: Literal["8s", "1m", "15m", "1h", "1d"] = Field(
        "8s", description="Resolution of the scheduled export: 8s, 1m, 15m, 1h or 1d"
    )
    export_installations: CsvList = Field(
        default_factory=list,
        description="Comma-separated installations of the scheduled export (default: all)",
    )
    sftp_password: SecretStr | None = Field(
        None, description="Password of the SFTP account exports are pushed to (never logged)"
    )
    sftp_key: str | None = Field(
        None,
        description="Private key file (OpenSSH format) of the SFTP account;"
        " tried before the password",
    )
    sftp_known_hosts: str | None = Field(
        None,
        description="known_hosts file holding the SFTP server's host key"
        " (default ~/.ssh/known_hosts)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("VDE_CONFIG", DEFAULT_FILE)
        if "VDE_CONFIG" in os.environ and not Path(path).is_file():
            # the default vde.toml is optional; a file named on purpose is not
            raise SettingsError(
                f"VDE_CONFIG names {path!r}, which is not a readable file: "
                "fix the path or unset VDE_CONFIG"
            )
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}: use an IANA name such as Europe/Brussels"
            ) from None
        return v

    @field_validator("alerts_at")
    @classmethod
    def _hh_mm(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", v.strip()):
            raise ValueError(f"{v!r} is not a time of day: use HH:MM, e.g. 06:30")
        return v.strip() if v is not None else v

    @model_validator(mode="after")
    def _no_cleartext_password(self) -> Settings:
        # a password sent without TLS can be read on the network; on loopback it cannot
        if (
            self.smtp_security == "none"
            and self.smtp_password is not None
            and self.smtp_host is not None
            and not _is_loopback(self.smtp_host)
        ):
            raise ValueError(
                f"smtp_security=none would send smtp_password in clear text to {self.smtp_host}: "
                "use starttls or tls, or remove the password"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Load settings; ``overrides`` (from CLI flags) win when not None.

    Raises SettingsError naming every invalid setting.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            if not name:  # a rule between settings (e.g. SMTP security and password)
                lines.append(err["msg"].removeprefix("Value error, "))
                continue
            lines.append(f"setting '{name}' (env VDE_{name.upper()}): {err['msg']}")
        src = os.environ.get("VDE_CONFIG", DEFAULT_FILE)
        raise SettingsError(
            "invalid settings (" + src + " / VDE_* environment):\n  " + "\n  ".join(lines)
        ) from None
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"cannot read settings file {os.environ.get('VDE_CONFIG', DEFAULT_FILE)}: {exc}"
        ) from exc


def settings_file_path() -> Path:
    return Path(os.environ.get("VDE_CONFIG", DEFAULT_FILE))
