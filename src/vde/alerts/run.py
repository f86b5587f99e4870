"""The alert run: check one local day, keep the history, send one email for what is new.

Deduplication: an alert's id is ``kind:installation:day``. An alert already sent is sent
again only when its content changed (``fingerprint``) or ``alert_repeat`` has passed since
it was sent. Alerts are stored as ``pending`` before the email goes out and marked ``sent``
only after the SMTP server accepted it, so a failed send loses nothing: the next run sends
every pending alert, whatever day it checks. An alert of the checked day and kinds, pending
or sent, that the run no longer finds becomes ``resolved`` (the data came in, or the
workbook was fixed and the power recomputed). Group alerts that only repeat their member
homes' are folded into them (``fold``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Literal
from zoneinfo import ZoneInfo

from vde.alerts.checks import MissingPeriod
from vde.alerts.detect import detect_missing, detect_sign, fingerprint
from vde.alerts.fold import fold_groups
from vde.alerts.mail import build_message, send_message
from vde.errors import MailError, NotFoundError
from vde.logs import get_logger
from vde.models import Alert
from vde.processing.configlint import home_of
from vde.settings import Settings
from vde.storage.base import Store
from vde.timeutil import local_day_bounds, local_day_of
from vde.timeutil import now_ts as clock_now

log = get_logger(__name__)

Mode = Literal["missing", "sign", "all"]
KINDS: dict[str, tuple[str, ...]] = {
    "missing": ("missing",),
    "sign": ("sign", "night"),
    "all": ("missing", "sign", "night"),
}

__all__ = ["KINDS", "AlertRunResult", "MissingPeriod", "default_day", "fingerprint", "run_alerts"]


@dataclass
class AlertRunResult:
    """What one run found, what it sent, and why not when it did not."""

    day: str
    mode: str
    dry_run: bool
    checked: list[str] = field(default_factory=list)  # installations checked
    found: list[Alert] = field(default_factory=list)  # problems found on the day
    to_send: list[Alert] = field(default_factory=list)  # in the message: new, changed, due, pending
    suppressed: list[Alert] = field(default_factory=list)  # already sent, unchanged, not due
    resolved: list[Alert] = field(default_factory=list)  # earlier pending, no longer found
    message: EmailMessage | None = None
    sent: bool = False
    mail_error: str | None = None  # why the message could not be delivered

    @property
    def undelivered(self) -> bool:
        """True when there were alerts to send that did not go out (and not a dry run)."""
        return bool(self.to_send) and not self.sent and not self.dry_run

    def raise_for_delivery(self) -> None:
        """Raise MailError when alerts could not be delivered (they stay pending)."""
        if self.undelivered:
            raise MailError(
                f"{len(self.to_send)} alert(s) not delivered, kept pending for the next run: "
                f"{self.mail_error}"
            )

    def to_json(self) -> dict:
        return {
            "day": self.day,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "checked": len(self.checked),
            "found": [_alert_json(a) for a in self.found],
            "to_send": [a.alert_id for a in self.to_send],
            "suppressed": [a.alert_id for a in self.suppressed],
            "resolved": [a.alert_id for a in self.resolved],
            "sent": self.sent,
            "error": self.mail_error,
        }


def _alert_json(a: Alert) -> dict:
    out = asdict(a)
    if a.kind in ("sign", "night"):
        # the workbook edits that make the day coherent ([] = no fix found), and the
        # day's kWh they would give
        out["fix"] = a.details.get("fix", [])
        out["fix_kwh"] = a.details.get("fix_kwh")
    return out


def default_day(settings: Settings, now: int) -> date:
    """Yesterday in ``settings.timezone``: the last complete local day."""
    return local_day_of(now, ZoneInfo(settings.timezone)) - timedelta(days=1)


def run_alerts(
    store: Store,
    settings: Settings,
    *,
    mode: Mode = "all",
    day: date | str | None = None,
    dry_run: bool = False,
    now_ts: int | None = None,
) -> AlertRunResult:
    """Check a local day of every installation of the current configuration; email what is new.

    Parameters
    ----------
    store : Store
        Where the power, raw data, configuration and alert history live.
    settings : Settings
        Thresholds (``alert_*``), location, time zone and SMTP settings.
    mode : {"missing", "sign", "all"}
        Which checks to run ("sign" covers wrong signs and night production).
    day : date or "YYYY-MM-DD", optional
        Local day to check; yesterday in ``settings.timezone`` by default. Only the part
        before ``now_ts`` of a day not over yet is checked.
    dry_run : bool
        Build the message but send nothing and write nothing.
    now_ts : int, optional
        The current time [UTC epoch s] (tests pass it).

    Returns
    -------
    AlertRunResult
        ``mail_error`` says why alerts could not be delivered (SMTP down or refusing, email
        not configured); they are then kept pending. Call ``raise_for_delivery()`` to turn
        that into a MailError.

    Raises
    ------
    NotFoundError
        No configuration was imported yet.
    ValueError
        ``mode`` or ``day`` is invalid.
    """
    if mode not in KINDS:
        raise ValueError(f"unknown alert mode {mode!r}: use missing, sign or all")
    now = clock_now() if now_ts is None else int(now_ts)
    tz = ZoneInfo(settings.timezone)
    if day is None:
        day = default_day(settings, now)
    elif isinstance(day, str):
        day = date.fromisoformat(day)
    day_s = day.isoformat()
    result = AlertRunResult(day=day_s, mode=mode, dry_run=dry_run)
    config = store.load_config()
    if config is None:
        raise NotFoundError("no configuration imported yet: run `vde config import` first")
    start, day_end = local_day_bounds(day, tz)
    end = min(day_end, now)
    kinds = KINDS[mode]
    found: list[Alert] = []
    raw_cache: dict = {}
    homes = home_of(config.rows)
    if end > start:
        for inst in config.installations():
            rows = config.rows_of(inst)
            if not any(r.start_ts < end for r in rows):
                continue  # installation not started yet that day
            result.checked.append(inst)
            if "missing" in kinds:
                found += detect_missing(
                    store, settings, inst, rows, start, end, raw_cache, tz, day_end, homes
                )
            if "sign" in kinds:
                found += detect_sign(store, settings, inst, rows, start, end, raw_cache, homes)
    found = fold_groups(found, config.rows, homes)
    for a in found:
        a.day = day_s
        a.alert_id = f"{a.kind}:{a.installation_id}:{day_s}"
    result.found = found
    if dry_run:
        _plan(store, settings, result, kinds, now)
        _log(result)
        if result.to_send:
            result.message = _message(result.to_send, settings)
        return result
    # plan, store and send under one lease: two runs at once never send the same alert twice
    with store.lock("alerts", ttl_s=600):
        _plan(store, settings, result, kinds, now)
        _log(result)
        for a in result.to_send:
            store.put_alert(a)  # pending first: a crash or SMTP failure loses nothing
        for a in result.resolved:
            store.put_alert(a)
        if not result.to_send:
            return result
        result.message = _message(result.to_send, settings)
        try:
            send_message(result.message, settings)
        except MailError as exc:
            result.mail_error = str(exc)
            return result
        for a in result.to_send:
            a.status, a.sent_ts, a.updated_ts = "sent", now, now
            store.put_alert(a)
        result.sent = True
    return result


def _log(result: AlertRunResult) -> None:
    log.info(
        "alerts_checked",
        day=result.day,
        mode=result.mode,
        installations=len(result.checked),
        found=len(result.found),
        to_send=len(result.to_send),
        suppressed=len(result.suppressed),
        resolved=len(result.resolved),
    )


def _message(alerts: list[Alert], settings: Settings) -> EmailMessage:
    return build_message(alerts, sender=settings.smtp_sender, recipients=settings.smtp_recipients)


def _plan(store: Store, settings: Settings, result: AlertRunResult, kinds: tuple, now: int) -> None:
    """Decide which alerts go in the message, from the history in the store."""
    history = {a.alert_id: a for a in store.alerts(since_day=result.day) if a.day == result.day}
    pending = {a.alert_id: a for a in store.alerts(status="pending")}
    found_ids = {a.alert_id for a in result.found}
    for a in result.found:
        old = history.get(a.alert_id)
        a.created_ts, a.updated_ts, a.status, a.sent_ts = now, now, "pending", None
        if old is not None:
            a.created_ts = old.created_ts
            unchanged = old.fingerprint == a.fingerprint
            recent = old.sent_ts is not None and now - old.sent_ts < settings.alert_repeat
            if old.status == "sent" and unchanged and recent:
                result.suppressed.append(old)
                continue
            if old.status == "acknowledged" and unchanged:
                result.suppressed.append(old)  # an administrator has seen it: not again
                continue
            if old.status in ("sent", "acknowledged"):
                a.sent_ts = old.sent_ts  # last time it went out, until it goes out again
        result.to_send.append(a)
    checked = set(result.checked)
    # the checked day's alerts (sent or not) that this run no longer finds are resolved:
    # the data came in, or the workbook was fixed and the power recomputed
    for a in sorted(history.values(), key=lambda a: a.alert_id):
        if a.alert_id in found_ids or a.status not in ("pending", "sent", "acknowledged"):
            continue
        if a.kind in kinds and a.installation_id in checked:
            result.resolved.append(replace(a, status="resolved", updated_ts=now))
    resolved = {a.alert_id for a in result.resolved}
    for a in sorted(pending.values(), key=lambda a: a.alert_id):
        if a.alert_id not in found_ids and a.alert_id not in resolved:
            result.to_send.append(a)  # not delivered by an earlier run: send it now
