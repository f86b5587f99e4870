"""run_alerts end to end: synthetic faulty days in the store, a real SMTP server, the history.

Every test uses the ``store`` fixture (SQLite: see ``pytestmark``) and the aiosmtpd server
on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from alerts_support import (
    H1_MAINS,
    H1_PV,
    H2_PV,
    SMTP_PASSWORD,
    SMTP_USER,
    free_port,
    mail_settings,
)

from vde.alerts.run import run_alerts
from vde.errors import LockedError, MailError, NotFoundError
from vde.storage import open_store
from vde.timeutil import local_day_bounds

# Once, on SQLite: the storage operations of an alert run (put_alert, alerts, read_raw,
# read_power, missing, lock, load_config) are proven on both backends by the contract
# suite (tests/storage/test_contract.py: test_alerts, test_raw_*, test_power_*,
# test_missing_intervals_replace, test_lock_*, test_config_versions).
pytestmark = [
    pytest.mark.backends("sqlite"),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

DAY = date(2026, 6, 20)
START, END = local_day_bounds(DAY)
LATER = END + 6 * 3600  # the next morning


def _bodies(msg) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def _by_id(result) -> dict:
    return {a.alert_id: a for a in result.found}


def test_outage_gives_a_missing_alert_naming_the_sensor(store, day_store, smtp_factory):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), mode="missing", now_ts=LATER)
    assert res.day == "2026-06-20" and res.sent and res.mail_error is None
    # the group GRP only repeats H1's outage: one alert per cause, naming the group
    assert sorted(_by_id(res)) == ["missing:H1:2026-06-20"]
    a = _by_id(res)["missing:H1:2026-06-20"]
    assert a.details["also_in"] == ["GRP"]
    assert a.details["slots"] == 10800 and a.details["missing_slots"] == 450
    assert a.details["sensor_ids"] == [H1_MAINS]
    (period,) = a.details["periods"]
    assert (period["start"], period["end"], period["duration"]) == ("02:00:00", "03:00:00", "1 h")
    assert period["sensor_ids"] == [H1_MAINS]
    assert a.summary.startswith("4.2 % of the day without power data (450 of 10800")

    (msg,) = srv.messages
    assert msg["Subject"] == "vde alerts: 1 problem in 1 installation (2026-06-20)"
    text, html = _bodies(msg)
    assert any(re.match(r"H1 +missing data +4\.2 %", line) for line in text.splitlines())
    assert ">H1</td>" in html and "also shows in GRP" in html
    assert f"02:00:00–03:00:00 (1 h): Mains (sensor {H1_MAINS})" in text
    assert f"Mains (sensor {H1_MAINS})" in html
    # the history is readable later (the admin page): both sent, with their send time
    stored = store.alerts()
    assert {a.alert_id for a in stored} == set(_by_id(res))
    assert all(a.status == "sent" and a.sent_ts == LATER for a in stored)
    assert stored[0].details["periods"][0]["start"] == "02:00:00"


def test_flipped_pv_sign_names_the_pv_sensor(store, day_store, smtp_factory):
    day_store(DAY, flipped_pv=True)
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), mode="sign", now_ts=LATER)
    found = _by_id(res)
    # GRP shows the flip too (its two PVs cancel out, consumption goes negative) but only
    # repeats H1's cause: folded into H1's alert, whose fix covers the group's row as well
    assert sorted(found) == ["sign:H1:2026-06-20"]
    h1 = found["sign:H1:2026-06-20"]
    assert h1.details["prod_positive"] > 0 and h1.details["max_prod_w"] > 2000
    assert h1.details["cons_negative"] > 0
    assert h1.details["flip_sensor"] == H1_PV and h1.details["also_in"] == ["GRP"]
    assert h1.details["fix"] == [
        {"installation": "H1", "sensor_id": H1_PV, "function": "PV", "column": "Prod",
         "from": 1, "to": -1},
        {"installation": "GRP", "sensor_id": H1_PV, "function": "H1 / PV", "column": "Prod",
         "from": 1, "to": -1},
    ]  # fmt: skip
    # the fixed day: production back to <= 0, consumption as the healthy day's
    assert h1.details["fix_kwh"]["prod"] < -10 < 0 < h1.details["fix_kwh"]["cons"]
    assert h1.details["kwh_now"]["prod"] == -h1.details["fix_kwh"]["prod"]
    assert f"flip the sign of PV (sensor {H1_PV}) in Prod (+1 → -1)" in h1.details["action"]
    text, html = _bodies(srv.messages[0])
    assert "wrong sign" in text and f"flip the sign of PV (sensor {H1_PV})" in html
    assert f"(sensor {H1_PV})" in text  # the id is never split by the wrapping
    assert max(len(line) for line in text.splitlines()) <= 100


def test_pv_on_a_consumption_phase_produces_at_night(store, day_store, smtp_factory):
    day_store(DAY, pv_on_phase=H2_PV)
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), now_ts=LATER)
    found = _by_id(res)
    assert sorted(found) == ["night:H2:2026-06-20"]  # GRP only repeats it: folded
    a = found["night:H2:2026-06-20"]
    # the whole short June night: about 7 h 30 of the 24 h
    assert 86 < a.details["night_production"] < 94  # 5-min periods
    # the clamp named PV measures a phase and the mains see no export: counting it as
    # production is the mistake, so the fix takes it out of Prod (home and group rows)
    assert a.details["flip_sensor"] is None and a.details["fix_found"]
    assert [(e["installation"], e["column"], e["from"], e["to"]) for e in a.details["fix"]] == [
        ("H2", "Prod", -1, 0),
        ("GRP", "Prod", -1, 0),
    ]
    assert {e["sensor_id"] for e in a.details["fix"]} == {H2_PV}
    assert a.details["fix_kwh"]["prod"] == 0 and a.details["fix_kwh"]["cons"] > 5
    assert f"blank Prod of PV (sensor {H2_PV})" in a.details["action"]
    assert a.details["also_in"] == ["GRP"]
    text, html = _bodies(srv.messages[0])
    assert "night production" in text and "sun is below the horizon" in html
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_coherent_complete_day_sends_nothing(store, day_store, smtp_factory):
    day_store(DAY)
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), now_ts=LATER)
    assert res.checked == ["GRP", "H1", "H2"]
    assert res.found == [] and res.to_send == [] and res.message is None and not res.sent
    assert srv.messages == [] and store.alerts() == []


def test_dedup_change_and_repeat(store, day_store, smtp_factory):
    day_store(DAY, outage=(H1_MAINS, 2, 3), flipped_pv=True)
    srv = smtp_factory()
    settings = mail_settings(srv, alert_repeat=86400)
    first = run_alerts(store, settings, now_ts=LATER)
    assert len(first.to_send) == 2 and len(srv.messages) == 1  # GRP's folded into H1's

    # same problems, next run: nothing is sent again
    second = run_alerts(store, settings, now_ts=LATER + 600)
    assert second.to_send == [] and len(second.suppressed) == 2 and not second.sent
    assert len(srv.messages) == 1

    # the outage grows (one more hour of H1's mains lost): only the missing alerts changed
    store.delete_raw(H1_MAINS, START + 5 * 3600, START + 6 * 3600)
    store.delete_power("H1", START + 5 * 3600, START + 6 * 3600)
    store.delete_power("GRP", START + 5 * 3600, START + 6 * 3600)
    assert len(store.read_raw(H1_MAINS, START, END)) == 10800 - 2 * 450
    third = run_alerts(store, settings, now_ts=LATER + 1200)
    assert sorted(a.alert_id for a in third.to_send) == ["missing:H1:2026-06-20"]
    assert len(third.suppressed) == 1 and len(srv.messages) == 2
    text, _ = _bodies(srv.messages[1])
    assert "05:00:00–06:00:00 (1 h)" in text and "wrong sign" not in text

    # a day later, alert_repeat has passed for the sign alerts (sent at LATER)
    fourth = run_alerts(store, settings, day=DAY, now_ts=LATER + 86400)
    assert sorted(a.alert_id for a in fourth.to_send) == ["sign:H1:2026-06-20"]
    assert len(srv.messages) == 3
    sent = {a.alert_id: a for a in store.alerts(status="sent")}
    assert sent["sign:H1:2026-06-20"].sent_ts == LATER + 86400
    assert sent["missing:H1:2026-06-20"].sent_ts == LATER + 1200
    assert sent["missing:H1:2026-06-20"].created_ts == LATER  # first seen


def test_smtp_down_then_back_loses_nothing(store, day_store, smtp_factory, caplog):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    port = free_port()
    settings = mail_settings(
        None,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )
    down = run_alerts(store, settings, now_ts=LATER)
    assert not down.sent and down.undelivered
    assert f"127.0.0.1:{port}: connection refused" in down.mail_error
    with pytest.raises(MailError, match="1 alert\\(s\\) not delivered, kept pending"):
        down.raise_for_delivery()
    assert {a.status for a in store.alerts()} == {"pending"}
    assert SMTP_PASSWORD not in caplog.text and SMTP_PASSWORD not in down.mail_error

    # the server comes back; the next run checks the next day (clean) and sends the backlog
    day_store(date(2026, 6, 21))
    srv = smtp_factory(auth=True, port=port)
    back = run_alerts(store, settings, now_ts=LATER + 86400)
    assert back.day == "2026-06-21" and back.found == [] and back.sent
    assert sorted(a.alert_id for a in back.to_send) == ["missing:H1:2026-06-20"]
    (msg,) = srv.messages
    assert "02:00:00–03:00:00 (1 h)" in _bodies(msg)[0]
    assert {a.status for a in store.alerts()} == {"sent"}
    # and nothing goes out twice
    again = run_alerts(store, settings, now_ts=LATER + 86400 + 60)
    assert again.to_send == [] and len(srv.messages) == 1


def test_pending_alert_repaired_before_delivery_is_resolved(store, day_store, smtp_factory):
    d = day_store(DAY, outage=(H1_MAINS, 2, 3))
    settings = mail_settings(None, smtp_host="127.0.0.1", smtp_port=free_port())
    assert run_alerts(store, settings, now_ts=LATER).undelivered
    # a re-fetch fills the gap: raw and power complete again
    from alerts_support import make_day, write_day

    write_day(store, make_day(d.day))
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), now_ts=LATER + 3600)
    assert res.found == [] and res.to_send == [] and srv.messages == []
    assert sorted(a.alert_id for a in res.resolved) == ["missing:H1:2026-06-20"]
    assert {a.status for a in store.alerts()} == {"resolved"}


def test_email_not_configured_keeps_alerts_pending(store, day_store):
    day_store(DAY, flipped_pv=True)
    res = run_alerts(store, mail_settings(None), now_ts=LATER)
    assert res.undelivered and "email is not configured" in res.mail_error
    assert res.message is not None  # the report exists; the CLI prints it
    assert {a.status for a in store.alerts()} == {"pending"}


def test_dry_run_writes_nothing(store, day_store, smtp_factory):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), dry_run=True, now_ts=LATER)
    assert len(res.to_send) == 1 and res.message is not None and not res.sent
    assert not res.undelivered
    res.raise_for_delivery()  # a dry run never fails delivery
    assert srv.messages == [] and store.alerts() == []


@pytest.mark.parametrize(
    ("day", "slots"), [(date(2026, 3, 29), 10350), (date(2026, 10, 25), 11250)]
)
def test_dst_days(store, day_store, smtp_factory, day, slots):
    d = day_store(day, outage=(H1_MAINS, 4, 5))
    assert d.slots.size == slots
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), mode="all", now_ts=d.end + 3600)
    assert res.day == day.isoformat()
    a = _by_id(res)[f"missing:H1:{day.isoformat()}"]
    assert a.details["slots"] == slots and a.details["missing_slots"] == 450
    (p,) = a.details["periods"]
    assert p["end_ts"] - p["start_ts"] == 3600
    # 4 h after local midnight, past the clock change: shown with the UTC offset
    expected = {3: ("05:00:00+0200", "06:00:00+0200"), 10: ("03:00:00+0100", "04:00:00+0100")}
    assert (p["start"], p["end"]) == expected[day.month]
    # PV on DST days is coherent: no sign or night alert
    assert {x.kind for x in res.found} == {"missing"}
    assert len(srv.messages) == 1


def test_default_day_is_yesterday_in_brussels(store, day_store):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    # 00:30 local on 21 June (22:30 UTC on the 20th): yesterday is the 20th in Brussels
    res = run_alerts(store, mail_settings(None), dry_run=True, now_ts=END + 1800)
    assert res.day == "2026-06-20" and len(res.to_send) == 1
    # 23:30 local on the 20th: yesterday is the 19th, which has no data at all
    res = run_alerts(store, mail_settings(None), dry_run=True, now_ts=END - 1800)
    assert res.day == "2026-06-19"
    assert {(a.kind, a.details["share"]) for a in res.found} == {("missing", 1.0)}
    # one alert per home; the group's names the same sensors: folded into theirs
    assert sorted(a.installation_id for a in res.found) == ["H1", "H2"]


def test_today_is_checked_only_up_to_now(store, day_store):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    res = run_alerts(store, mail_settings(None), day=DAY, dry_run=True, now_ts=START + 4 * 3600)
    a = _by_id(res)["missing:H1:2026-06-20"]
    assert a.details["slots"] == 4 * 450 and a.details["missing_slots"] == 450


def test_modes_select_the_checks(store, day_store):
    day_store(DAY, outage=(H1_MAINS, 2, 3), pv_on_phase=H2_PV)
    kinds = {}
    for mode in ("missing", "sign", "all"):
        res = run_alerts(store, mail_settings(None), mode=mode, dry_run=True, now_ts=LATER)
        kinds[mode] = sorted({a.kind for a in res.found})
    assert kinds == {"missing": ["missing"], "sign": ["night"], "all": ["missing", "night"]}
    with pytest.raises(ValueError, match="unknown alert mode"):
        run_alerts(store, mail_settings(None), mode="bogus", now_ts=LATER)  # type: ignore[arg-type]


def test_no_configuration_is_a_clear_error(store):
    with pytest.raises(NotFoundError, match="no configuration imported"):
        run_alerts(store, mail_settings(None), now_ts=LATER)


def test_installation_location_from_settings(store, day_store):
    """A far-west location moves the night: Brussels' PV 'produces at night' there."""
    day_store(DAY)
    res = run_alerts(
        store,
        mail_settings(None, locations={"H1": (50.85, -60.0)}),
        mode="sign",
        dry_run=True,
        now_ts=LATER,
    )
    (a,) = res.found
    assert a.alert_id == "night:H1:2026-06-20" and a.details["location"] == [50.85, -60.0]
    assert a.details["max_night_prod_w"] > 1000


def test_a_run_already_in_progress_is_refused_and_sends_nothing(store, day_store, smtp_factory):
    day_store(DAY, outage=(H1_MAINS, 2, 3))
    srv = smtp_factory()
    with open_store(store.url) as other, other.lock("alerts"):
        with pytest.raises(LockedError, match="'alerts' is already running"):
            run_alerts(store, mail_settings(srv), now_ts=LATER)
    assert srv.messages == [] and store.alerts() == []
    assert run_alerts(store, mail_settings(srv), now_ts=LATER).sent


def test_a_sign_wrong_only_in_the_group_stays_a_group_alert(store, smtp_factory):
    """The group's own row is wrong (its home's is right): its own cause, not folded; the
    sensor is named with its home."""
    from dataclasses import replace

    from alerts_support import make_day, write_day

    d = make_day(DAY)
    d.rows = [
        replace(r, prod=1) if (r.installation_id, r.sensor_id) == ("GRP", H1_PV) else r
        for r in d.rows
    ]
    write_day(store, d)
    srv = smtp_factory()
    res = run_alerts(store, mail_settings(srv), mode="sign", now_ts=LATER)
    (a,) = res.found
    assert a.alert_id == "sign:GRP:2026-06-20" and "also_in" not in a.details
    assert a.details["fix"] == [
        {"installation": "GRP", "sensor_id": H1_PV, "function": "H1 / PV", "column": "Prod",
         "from": 1, "to": -1},
    ]  # fmt: skip
    assert f"flip the sign of H1 / PV (sensor {H1_PV}) in Prod" in a.details["action"]


def test_an_acknowledged_alert_is_not_sent_again_and_resolves_when_fixed(
    store, day_store, smtp_factory
):
    from dataclasses import replace

    from alerts_support import make_day, write_day

    day_store(DAY, flipped_pv=True)
    srv = smtp_factory()
    settings = mail_settings(srv, alert_repeat=3600)
    assert run_alerts(store, settings, mode="sign", now_ts=LATER).sent
    (a,) = store.alerts()
    store.put_alert(replace(a, status="acknowledged"))  # the admin page's "seen"
    later = run_alerts(store, settings, mode="sign", day=DAY, now_ts=LATER + 86400)  # repeat due
    assert later.to_send == [] and [x.alert_id for x in later.suppressed] == [a.alert_id]
    assert len(srv.messages) == 1
    write_day(store, make_day(DAY), version_id=1_700_000_000_000_001)  # the workbook fixed
    fixed = run_alerts(store, settings, mode="sign", day=DAY, now_ts=LATER + 86400 + 60)
    assert [x.alert_id for x in fixed.resolved] == [a.alert_id]
    assert {x.status for x in store.alerts()} == {"resolved"}


def test_power_older_than_the_workbook_asks_for_a_recompute(store, day_store):
    from alerts_support import sensor_rows

    from vde.models import ConfigVersion

    day_store(DAY, flipped_pv=True)  # power computed with H1's PV flipped
    store.save_config_version(ConfigVersion(1_800_000_000_000_000, tuple(sensor_rows())))
    res = run_alerts(store, mail_settings(None), mode="sign", dry_run=True, now_ts=LATER)
    a = _by_id(res)["sign:H1:2026-06-20"]
    assert a.details["fix"] == [] and not a.details["fix_found"]
    assert "recompute the power (vde recompute --installations H1)" in a.details["action"]
