"""Helpers of the alert tests: a real SMTP server on 127.0.0.1, and synthetic days.

The SMTP server is aiosmtpd's Controller (a real server in a thread); it keeps every
message it accepted. Days are built from physically plausible raw power (PV production
follows the sun from astral and is zero at night; consumption is always positive), turned
into installation power by vde's own ``installation_power`` and written into the store.
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from vde.alerts.checks import day_slots
from vde.alerts.sun import night_mask
from vde.models import ConfigVersion, SensorRow
from vde.processing.installation import installation_power
from vde.settings import Settings
from vde.timeutil import local_day_bounds

SMTP_USER = "alerts@vde.test"
SMTP_PASSWORD = "s3cret-Pa55word-xyz"
LAT, LON = 50.85, 4.35


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- SMTP server ---------------------------------------------------------------------------


class Collector:
    """aiosmtpd handler keeping each accepted message; can refuse some recipients."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = refuse or set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == SMTP_USER
        and auth_data.password.decode() == SMTP_PASSWORD
    )
    # handled=False: the server answers 235 or 535 itself
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: Collector
    controller: Controller | None = None
    cafile: str | None = None
    kwargs: dict = field(default_factory=dict)

    @property
    def messages(self) -> list:
        return self.handler.messages

    def start(self) -> SmtpServer:
        self.controller = Controller(
            self.handler, hostname=self.host, port=self.port, **self.kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def mail_settings(srv: SmtpServer | None, **kw) -> Settings:
    base = {
        "smtp_host": srv.host if srv else None,
        "smtp_port": srv.port if srv else 587,
        "smtp_security": "none",
        "smtp_recipients": ["admin@vde.test", "ops@vde.test"],
        "smtp_sender": "vde@vde.test",
        "latitude": LAT,
        "longitude": LON,
    }
    base.update(kw)
    return Settings(**base)


# --- synthetic days ------------------------------------------------------------------------

H1_MAINS = "a1" * 16
H1_PV = "b1" * 16
H2_MAINS = "a2" * 16
H2_PV = "b2" * 16
H2_PHASE = "c2" * 16


def sensor_rows(*, flipped_pv: bool = False) -> list[SensorRow]:
    """H1 and H2 (mains + PV each, H2 also a phase sensor) and their group GRP."""

    def row(inst: str, sid: str, fn: str, net: int, prod: int, cons: int) -> SensorRow:
        return SensorRow(
            inst, sid, "f" * 32, "FL0800000" + sid[1], fn, net, prod, cons, 0, 1_600_000_000
        )

    homes = [
        row("H1", H1_MAINS, "Mains", 1, 0, 1),
        row("H1", H1_PV, "PV", 0, 1 if flipped_pv else -1, 1),
        row("H2", H2_MAINS, "Mains", 1, 0, 1),
        row("H2", H2_PV, "PV", 0, -1, 1),
        row("H2", H2_PHASE, "Phase L1", 0, 0, 0),
    ]
    group = [SensorRow(**{**r.__dict__, "installation_id": "GRP"}) for r in homes]
    return homes + group


@dataclass
class Day:
    day: date
    start: int
    end: int
    slots: np.ndarray
    night: np.ndarray
    raw: dict[str, tuple[np.ndarray, np.ndarray]]
    rows: list[SensorRow]


def make_day(
    day: date,
    *,
    outage: tuple[str, int, int] | None = None,
    pv_on_phase: str | None = None,
    flipped_pv: bool = False,
    pv_peak_w: float = 3000.0,
    seed: int = 1,
) -> Day:
    """Raw power of every sensor over a local day, with optional faults.

    outage: (sensor_id, start hour, end hour) local — that sensor has no raw rows there.
    pv_on_phase: a PV sensor id wired on a consumption phase: it measures consumption,
    day and night, and there is no production.
    flipped_pv: H1's PV has Prod = +1 in the workbook (the sign flip to find).
    """
    rng = np.random.default_rng(seed)
    start, end = local_day_bounds(day)
    slots = day_slots(start, end)
    night = night_mask(slots, LAT, LON)
    # production follows a half sine between sunrise and sunset: zero at night [W]
    t = np.arange(slots.size)
    day_idx = np.flatnonzero(~night)
    pv = np.zeros(slots.size)
    if day_idx.size:
        a, b = day_idx[0], day_idx[-1] + 1
        pv[a:b] = pv_peak_w * np.sin(np.pi * (t[a:b] - a) / (b - a))
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    hours = t * 8 / 3600
    homes = ((H1_MAINS, H1_PV, None, 19.0), (H2_MAINS, H2_PV, H2_PHASE, 8.0))
    for mains, pv_id, phase, peak_h in homes:
        # H1 peaks in the evening, H2 in the morning: neither home's load mirrors the other
        bump = 600 * np.exp(-(((hours - peak_h) / 1.5) ** 2))
        cons = 250 + bump + rng.uniform(0, 40, t.size)
        phase_w = cons * 0.4
        prod = pv.copy()
        if pv_id == pv_on_phase:
            prod = phase_w.copy()  # measures a consumption phase instead of the inverter
            raw[mains] = (slots, cons)  # no real production: the grid supplies everything
        else:
            raw[mains] = (slots, cons - prod)  # import positive, export negative
        raw[pv_id] = (slots, prod)
        if phase:
            raw[phase] = (slots, phase_w)
    if outage:
        sid, h0, h1 = outage
        ts, p = raw[sid]
        keep = (ts < start + h0 * 3600) | (ts >= start + h1 * 3600)
        raw[sid] = (ts[keep], p[keep])
    return Day(day, start, end, slots, night, raw, sensor_rows(flipped_pv=flipped_pv))


def write_day(store, d: Day, *, version_id: int = 1_700_000_000_000_000) -> None:
    """Store the configuration, the raw rows and the installation power of ``d``."""
    if store.load_config() is None or store.load_config().rows != tuple(d.rows):
        store.save_config_version(ConfigVersion(version_id, tuple(d.rows)))
    cfg = store.load_config()
    for sid, (ts, p) in d.raw.items():
        store.write_raw(sid, ts, p, cfg.version_id)
    from vde.models import RawSeries

    raw = {sid: RawSeries(ts, p) for sid, (ts, p) in d.raw.items()}
    for inst in cfg.installations():
        series = installation_power(cfg.rows_of(inst), raw, d.start, d.end)
        store.write_power(inst, series, cfg.version_id)
