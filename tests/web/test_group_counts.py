"""A group whose home lacks a sensor for some hours, from raw power through ``recompute`` to
the API: the group's slots stay, counting N-1 homes, read from the
group's own stored power and rollups (and from its homes for rows that do not count them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vde.models import ConfigVersion, PowerSeries, SensorRow
from vde.storage.base import Store
from vde.sync.recompute import recompute, rollup_range
from vde.timeutil import local_day_bounds, now_ts
from vde.web.auth import set_password, set_role

from .conftest import login, make_app

# the web reads; the counts' storage on both backends is tests/storage/test_group_power.py
pytestmark = pytest.mark.backends("sqlite")

DAY = date(2026, 5, 12)
D0, D1 = local_day_bounds(DAY)
GROUP, HOMES = "CDBG01", ("CDB101", "CDB102", "CDB103")
GAP = (9, 13)  # local hours [start, end) without CDB101's PV sensor
PASSWORD = "root-secret-333"


def _rows() -> tuple[SensorRow, ...]:
    rows = []
    for home in HOMES:
        for sid, net, prod, fn in ((f"{home}m", 1, 0, "Mains"), (f"{home}pv", -1, -1, "PV")):
            for inst in (home, GROUP):
                rows.append(SensorRow(inst, sid, "0" * 32, "FL" + home, fn, net, prod, 1, 0, 0))
    return tuple(rows)


def _seed(store: Store) -> None:
    ts = np.arange(D0, D1, 8, dtype=np.int64)
    hour = (ts - D0) // 3600
    for k, home in enumerate(HOMES):
        mains = 300.0 + 100 * k + 50 * np.sin(ts / 3600.0)  # grid import [W]
        pv = np.clip(1500 * np.sin(np.pi * (hour - 6) / 12), 0, None) * (k + 1) / 3  # [W]
        store.write_raw(f"{home}m", ts, mains, 1)
        keep = ~((hour >= GAP[0]) & (hour < GAP[1])) if k == 0 else np.ones(len(ts), bool)
        store.write_raw(f"{home}pv", ts[keep], pv[keep], 1)
    cfg = ConfigVersion(1, _rows())
    store.save_config_version(cfg)
    store.replace_captions({GROUP: "Rue des Tests"})
    recompute(store, cfg, None, progress=False)
    set_role(store, "root", "admin")
    set_password(store, "root", PASSWORD)


@pytest.fixture
def client(store: Store) -> Iterator[tuple[TestClient, Store]]:
    _seed(store)
    with TestClient(make_app(store)) as c:
        yield login(c, "root", PASSWORD), store


def _get(c: TestClient, path: str) -> dict:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_group_shows_the_hours_a_home_lacks_a_sensor_with_one_home_less(client):
    c, store = client
    stored = store.read_power(GROUP, D0, D1)
    assert len(stored) == (D1 - D0) // 8  # no slot of the group is missing
    gap = (stored.ts >= D0 + GAP[0] * 3600) & (stored.ts < D0 + GAP[1] * 3600)
    assert set(stored.homes[gap].tolist()) == {2} and set(stored.homes[~gap].tolist()) == {3}
    assert len(store.read_power("CDB101", D0, D1)) == (D1 - D0) // 8 - np.count_nonzero(gap)

    d = _get(c, f"/api/installations/{GROUP}/energy?period=day&date={DAY}")
    bars, totals = d["bars"], d["totals"]
    assert bars["members"] == 3
    assert bars["homes"] == [2 if GAP[0] <= h < GAP[1] else 3 for h in range(24)]
    assert all(v is not None for v in bars["consumed_kwh"])
    cov = bars["coverage"]
    assert cov[GAP[0]] == pytest.approx(2 / 3, abs=1e-4) and cov[GAP[0] - 1] == 1.0
    assert totals["homes"] == 3 and totals["members"] == 3
    assert totals["coverage"] == pytest.approx(1 - (GAP[1] - GAP[0]) / 24 / 3, abs=1e-4)
    # the group's kWh are its homes' own, bar by bar (import and export as their meters say)
    homes = [_get(c, f"/api/installations/{h}/energy?period=day&date={DAY}") for h in HOMES]
    for k in ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh"):
        for hour in range(24):
            own = sum(h["bars"][k][hour] or 0.0 for h in homes)
            assert bars[k][hour] == pytest.approx(own, abs=2e-3), (k, hour)
        assert totals[k] == pytest.approx(sum(h["totals"][k] for h in homes), abs=5e-3), k

    # the power curve of the day (1-min buckets) counts the homes per bucket too
    s = _get(c, f"/api/installations/{GROUP}/series?period=day&date={DAY}")
    assert s["members"] == 3 and s["resolution_s"] == 60
    i = GAP[0] * 60 + 30
    assert s["homes"][i] == 2 and s["homes"][i - 120] == 3 and s["p_cons"][i] is not None
    # 8-s slots around the gap's start: 3 homes, then 2; the homes' own import and export
    t = D0 + GAP[0] * 3600
    s8 = _get(c, f"/api/installations/{GROUP}/series?start={t - 400}&end={t + 400}")
    assert s8["resolution_s"] == 8 and s8["homes"] == [3] * 50 + [2] * 50
    assert all(v >= 0 for v in s8["p_import"]) and all(v <= 0 for v in s8["p_export"])
    # a zoomed range (exact totals from the group's rows) says the same
    z = _get(c, f"/api/installations/{GROUP}/totals?start={D0 + 9 * 3600 + 8}&end={D0 + 11 * 3600}")
    assert z["homes"] == 2 and z["coverage"] == pytest.approx(2 / 3, abs=1e-3)


def test_group_bars_come_from_the_group_rows_and_older_rows_from_its_homes(client):
    c, store = client
    path = f"/api/installations/{GROUP}/energy?period=day&date={DAY}"
    before = _get(c, path)["bars"]
    # the group is read from its own rollups: its homes' rows are not needed
    for res in (60, 900, 3600, 86400):
        store.delete_rollups("CDB102", res, D0, D1)
    assert _get(c, path)["bars"] == before
    # group rows written before homes were counted: the homes are summed instead
    p = store.read_power(GROUP, D0, D1)
    old = PowerSeries(p.ts, p.p_cons, p.p_prod, p.p_tot)
    store.delete_power(GROUP, D0, D1)
    store.write_power(GROUP, old, 1)
    rollup_range(store, GROUP, D0, D1)
    assert store.read_rollups(GROUP, 3600, D0, D1).columns["homes_max"].max() == 0
    summed = _get(c, path)["bars"]
    # CDB102's hourly rollups are gone: the sum of the homes counts CDB101 and CDB103 only
    assert summed["homes"] == [1 if GAP[0] <= h < GAP[1] else 2 for h in range(24)]


def test_now_says_how_many_homes_the_newest_group_slot_counts(client):
    c, store = client
    t = now_ts() - now_ts() % 8 - 64
    ts = np.array([t, t + 8], np.int64)
    newest = PowerSeries(ts, ts * 0.0 + 500, ts * 0.0, ts * 0.0 + 500)
    newest.homes, newest.p_import = np.array([3, 2]), np.array([500.0, 500.0])
    store.write_power(GROUP, newest, 1)
    d = _get(c, f"/api/installations/{GROUP}/now")
    assert d["last_ts"] == t + 8 and d["homes"] == 2
    assert _get(c, "/api/installations/CDB101/now")["last_ts"] is None
