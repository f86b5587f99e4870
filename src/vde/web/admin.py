"""What the administrators' views show: sync status per sensor, installations and their
signs, users. Never a token, never a hash."""

from __future__ import annotations

from vde.models import MissingInterval
from vde.processing.configlint import lint
from vde.storage.base import Store
from vde.timeutil import local_day_bounds, local_day_of, now_ts


def missing_share(
    intervals: list[MissingInterval], last_ts: int | None, start: int, end: int
) -> float:
    """Share [0..1] of [start, end) with no data: the recorded missing intervals plus the
    time after the last data point. ``end`` is usually now."""
    if end <= start:
        return 0.0
    spans = [(max(m.start_ts, start), min(m.end_ts, end)) for m in intervals]
    tail_from = start if last_ts is None else max(start, last_ts + 8)
    spans.append((tail_from, end))
    covered, cursor = 0, start
    for a, b in sorted(s for s in spans if s[0] < s[1]):
        a = max(a, cursor)
        if b > a:
            covered += b - a
            cursor = b
    return covered / (end - start)


def sync_status(store: Store, now: int | None = None) -> list[dict]:
    """One row per sensor: installations, last data, missing share today, last error."""
    now = now if now is not None else now_ts()
    day_start, _ = local_day_bounds(local_day_of(now))
    states = store.sync_states()
    config = store.load_config()
    where: dict[str, set[str]] = {}
    functions: dict[str, str] = {}
    if config is not None:
        for r in config.rows:
            where.setdefault(r.sensor_id, set()).add(r.installation_id)
            functions[r.sensor_id] = r.function
    missing: dict[str, list[MissingInterval]] = {}
    for m in store.missing():
        missing.setdefault(m.sensor_id, []).append(m)
    rows = []
    # only the current configuration's sensors (removed ones keep a sync state forever)
    for sensor_id in sorted(where if config is not None else states):
        st = states.get(sensor_id)
        last_ts = st.last_ts if st else None
        rows.append(
            {
                "sensor_id": sensor_id,
                "function": functions.get(sensor_id, ""),
                "installations": sorted(where.get(sensor_id, ())),
                "last_ts": last_ts,
                "last_attempt_ts": st.last_attempt_ts if st else None,
                "last_success_ts": st.last_success_ts if st else None,
                "last_error": st.last_error if st else None,
                "points_total": st.points_total if st else 0,
                "missing_share_today": round(
                    missing_share(missing.get(sensor_id, []), last_ts, day_start, now), 4
                ),
            }
        )
    return rows


def installations_config(store: Store) -> dict:
    """The latest configuration without its tokens: per installation, its sensors and signs."""
    config = store.load_config()
    if config is None:
        return {"version_id": None, "installations": []}
    out = []
    findings: dict[str, list[str]] = {}
    coded: dict[str, list[dict]] = {}  # the same by code, for pages in the reader's language
    for f in lint(config.rows):  # wiring the Function names contradict (config lint)
        findings.setdefault(f.installation_id, []).append(f"{f.message} — {f.hint}")
        coded.setdefault(f.installation_id, []).append(
            {"code": f.code, "column": f.column, "functions": list(f.functions)}
        )
    for inst in config.installations():
        out.append(
            {
                "installation_id": inst,
                "lint": findings.get(inst, []),
                "lint_codes": coded.get(inst, []),
                "sensors": [
                    {k: v for k, v in r.public_fields().items() if k != "installation_id"}
                    for r in sorted(config.rows_of(inst), key=lambda r: r.sensor_id)
                ],
            }
        )
    return {"version_id": config.version_id, "installations": out}


def users_list(store: Store) -> list[dict]:
    """Users and access rows merged; whether a password is set, never the hash."""
    access: dict[str, list[str]] = {}
    for login, inst in store.access():
        access.setdefault(login, []).append(inst)
    users = {u.login: u for u in store.users()}
    out = []
    for login in sorted(set(users) | set(access)):
        u = users.get(login)
        out.append(
            {
                "login": login,
                "role": u.role if u else "member",
                "has_password": bool(u and u.password_hash),
                "invite_pending": bool(
                    u and u.invite_hash and (u.invite_expires_ts or 0) > now_ts()
                ),
                "installations": sorted(access.get(login, [])),
                "created_ts": u.created_ts if u else None,
            }
        )
    return out


def alerts_list(store: Store, since_day: str | None = None) -> list[dict]:
    return [
        {
            "alert_id": a.alert_id,
            "kind": a.kind,
            "installation_id": a.installation_id,
            "day": a.day,
            "summary": a.summary,
            "status": a.status,
            "created_ts": a.created_ts,
            "updated_ts": a.updated_ts,
            "sent_ts": a.sent_ts,
        }
        for a in store.alerts(since_day=since_day)
    ]


#: A sensor whose newest data is older than this is stale [s] (data comes per 256-s block,
#: meters upload late: an hour is clearly late).
STALE_S = 3600
#: Alert statuses, in lifecycle order: found, emailed, seen by an administrator, gone.
ALERT_STATUSES = ("pending", "sent", "acknowledged", "resolved")


def health_summary(sync: list[dict], alerts: list[dict], now: int | None = None) -> dict:
    """Installations ok / stale / failing (worst sensor wins), the last successful sync,
    and alerts still to handle (pending or sent, not acknowledged)."""
    now = now if now is not None else now_ts()
    state: dict[str, str] = {}
    rank = {"ok": 0, "stale": 1, "failing": 2}
    for r in sync:
        failing = bool(r["last_error"]) and (r["last_attempt_ts"] or 0) >= (
            r["last_success_ts"] or 0
        )
        stale = r["last_ts"] is None or now - r["last_ts"] > STALE_S
        s = "failing" if failing else "stale" if stale else "ok"
        for inst in r["installations"]:
            if rank[s] >= rank[state.get(inst, "ok")]:
                state[inst] = s
    counts = {k: sorted(i for i, v in state.items() if v == k) for k in rank}
    last = [r["last_success_ts"] for r in sync if r["last_success_ts"]]
    return {
        "ok": len(counts["ok"]),
        "stale": counts["stale"],
        "failing": counts["failing"],
        "last_sync_ts": max(last) if last else None,
        "open_alerts": sum(a["status"] in ("pending", "sent") for a in alerts),
        "pending_alerts": sum(a["status"] == "pending" for a in alerts),
    }


def acknowledge_alert(store: Store, alert_id: str) -> bool:
    """Mark an alert acknowledged (an administrator has seen it); False if unknown."""
    from dataclasses import replace

    for a in store.alerts():
        if a.alert_id == alert_id:
            if a.status in ("pending", "sent"):
                store.put_alert(replace(a, status="acknowledged", updated_ts=now_ts()))
            return True
    return False
