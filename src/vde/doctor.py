"""Health checks behind ``vde doctor``: settings, database, Flukso API, SMTP.

Each check returns a ``Check`` (pass / warn / fail with a message saying what to do); none
of them writes data or sends mail, and no secret appears in a message.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from vde.errors import VdeError
from vde.settings import Settings, load_settings

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    message: str


def check_settings(overrides: dict) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(**overrides)
    except VdeError as exc:
        return Check("settings", FAIL, str(exc)), None
    return Check("settings", PASS, "settings are valid"), settings


def check_database(settings: Settings) -> Check:
    from vde.storage import open_store
    from vde.storage.base import SCHEMA_VERSION

    try:
        store = open_store(settings.database)
    except VdeError as exc:
        return Check("database", FAIL, str(exc))
    try:
        version = store.schema_version()
        url = store.url
    except VdeError as exc:
        return Check("database", FAIL, str(exc))
    finally:
        store.close()
    if version is None:
        return Check("database", FAIL, f"{url}: no vde schema; run `vde db create`")
    if version != SCHEMA_VERSION:
        return Check(
            "database",
            FAIL,
            f"{url}: schema version {version}, this vde expects {SCHEMA_VERSION}; "
            "upgrade vde or migrate the database",
        )
    return Check("database", PASS, f"{url} reachable, schema version {version}")


def _unreachable(settings: Settings, exc: httpx.HTTPError) -> Check:
    return Check(
        "flukso api",
        FAIL,
        f"{settings.flukso_api_url} unreachable ({type(exc).__name__}: {exc}); "
        "check flukso_api_url and flukso_ca_bundle",
    )


def _verify(settings: Settings) -> bool | ssl.SSLContext | str:
    return settings.flukso_ca_bundle or True


def check_flukso(settings: Settings) -> Check:
    """One tmpo sync request for the first sensor of the current configuration.

    Before any configuration is imported there is no sensor to ask: the API must still
    answer (any HTTP status), or the check fails.
    """
    from vde.storage import open_store

    why = ""
    try:
        with open_store(settings.database) as store:
            config = store.load_config() if store.schema_version() is not None else None
    except VdeError as exc:
        config, why = None, f"cannot read the configuration ({exc})"
    if config is None or not config.rows:
        why = why or "no configuration imported yet (vde config import PATH)"
        try:
            resp = httpx.get(
                settings.flukso_api_url,
                timeout=settings.flukso_timeout,
                verify=_verify(settings),
            )
        except httpx.HTTPError as exc:
            return _unreachable(settings, exc)
        return Check(
            "flukso api",
            PASS,
            f"{settings.flukso_api_url} answers (HTTP {resp.status_code}); "
            f"sensors not checked: {why}",
        )
    row = next(iter(config.sensors().values()))
    url = f"{settings.flukso_api_url.rstrip('/')}/sensor/{row.sensor_id}/tmpo/sync"
    try:
        resp = httpx.get(
            url,
            params={"rid": 0, "lvl": 0, "bid": 0},
            headers={"X-Token": row.token, "X-Version": "1.0", "Accept": "application/json"},
            timeout=settings.flukso_timeout,
            verify=_verify(settings),
        )
    except httpx.HTTPError as exc:
        return _unreachable(settings, exc)
    if resp.status_code in (401, 403):
        return Check(
            "flukso api",
            FAIL,
            f"sensor {row.sensor_id} refused its token (HTTP {resp.status_code}); "
            "fix the Token in the workbook and re-import",
        )
    if resp.status_code != 200:
        return Check("flukso api", FAIL, f"sensor {row.sensor_id}: HTTP {resp.status_code}")
    try:
        n = len(resp.json())
    except ValueError:
        return Check("flukso api", FAIL, f"sensor {row.sensor_id}: the answer is not JSON")
    return Check(
        "flukso api", PASS, f"{settings.flukso_api_url}: sensor {row.sensor_id} lists {n} blocks"
    )


def check_smtp(settings: Settings) -> Check:
    """Connect and authenticate; no mail is sent."""
    if not settings.smtp_host:
        return Check("smtp", WARN, "smtp_host is not set: alerts are printed, not emailed")
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=10,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10)
        with client:
            client.ehlo()
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.smtp_user:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                client.login(settings.smtp_user, password)
    except smtplib.SMTPAuthenticationError:
        return Check("smtp", FAIL, f"{where}: authentication refused for user {settings.smtp_user}")
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp", FAIL, f"{where}: {type(exc).__name__}: {exc}")
    if not settings.smtp_recipients:
        return Check("smtp", WARN, f"{where} works, but smtp_recipients is empty")
    auth = " and authenticated" if settings.smtp_user else ""
    return Check("smtp", PASS, f"{where} connected{auth}")


def run_checks(overrides: dict | None = None) -> list[Check]:
    """Every check, in order; later checks are skipped when settings are invalid."""
    first, settings = check_settings(overrides or {})
    if settings is None:
        return [first]
    checks: list[Callable[[Settings], Check]] = [check_database, check_flukso, check_smtp]
    return [first, *(c(settings) for c in checks)]
