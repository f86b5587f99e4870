"""Alerts on a group whose stored power counts only some homes at some slots: a home's
missing sensor is that home's alert, not a group data gap, and a home's wrong sign found
in the group is folded into the home's alert (never "recompute" for a partial group)."""

from __future__ import annotations

from datetime import date

import pytest
from alerts_support import H1_PV, H2_MAINS, mail_settings, make_day

from vde.alerts.run import run_alerts
from vde.models import ConfigVersion, RawSeries
from vde.processing.configlint import home_of
from vde.processing.installation import installation_power
from vde.timeutil import local_day_bounds

pytestmark = [
    pytest.mark.backends("sqlite"),  # storage operations: tests/storage (both backends)
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

DAY = date(2026, 6, 20)
START, END = local_day_bounds(DAY)
LATER = END + 6 * 3600


def _write(store, d) -> None:
    """The day's raw rows, and power as the sync stores it (a group counts its homes)."""
    cfg = ConfigVersion(1_700_000_000_000_000, tuple(d.rows))
    store.save_config_version(cfg)
    for sid, (ts, p) in d.raw.items():
        store.write_raw(sid, ts, p, cfg.version_id)
    raw = {sid: RawSeries(ts, p) for sid, (ts, p) in d.raw.items()}
    homes = home_of(cfg.rows)
    for inst in cfg.installations():
        power = installation_power(cfg.rows_of(inst), raw, d.start, d.end, homes)
        store.write_power(inst, power, cfg.version_id)


def test_a_home_silent_all_day_is_its_own_missing_alert_not_the_groups(store, smtp_factory):
    _write(store, make_day(DAY, outage=(H2_MAINS, 0, 24)))
    group = store.read_power("GRP", START, END)
    assert len(group) == (END - START) // 8 and set(group.homes.tolist()) == {1}
    res = run_alerts(store, mail_settings(smtp_factory()), mode="missing", now_ts=LATER)
    assert sorted(a.alert_id for a in res.found) == ["missing:H2:2026-06-20"]


def test_a_homes_wrong_sign_in_a_partial_group_is_folded_into_the_homes_alert(store, smtp_factory):
    # H1's PV has the wrong sign; H2 is silent all day, so the group counts H1 alone
    _write(store, make_day(DAY, flipped_pv=True, outage=(H2_MAINS, 0, 24)))
    res = run_alerts(store, mail_settings(smtp_factory()), mode="sign", now_ts=LATER)
    found = {a.alert_id: a for a in res.found}
    assert sorted(found) == ["sign:H1:2026-06-20"]
    h1 = found["sign:H1:2026-06-20"]
    assert h1.details["also_in"] == ["GRP"] and h1.details["flip_sensor"] == H1_PV
    assert {(e["installation"], e["sensor_id"]) for e in h1.details["fix"]} == {
        ("H1", H1_PV),
        ("GRP", H1_PV),
    }
