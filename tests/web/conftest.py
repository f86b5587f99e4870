"""Fixtures of the dashboard tests: a seeded community and logged-in clients.

The community: homes CDB001 (alice) and CDB002 (bob) in group CDBA01 ("Quartier du Test"),
home CDB003 (carol, no password yet), and an administrator. Power is synthetic 8-s data on
DAY (a summer day) with a one-hour gap in CDB001, written through the store, with rollups
computed by ``vde.sync.recompute.rollup_range`` as the sync does; the group's power is the
sum of its homes where at least one has data, with the homes it counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vde.models import ConfigVersion, PowerSeries, SensorRow
from vde.processing.installation import sum_of_homes
from vde.settings import Settings
from vde.storage import open_store
from vde.storage.base import Store
from vde.sync.recompute import rollup_range
from vde.timeutil import local_day_bounds
from vde.web.app import create_app
from vde.web.auth import CSRF_COOKIE, LoginGuard, set_password, set_role

DAY = date(2026, 6, 15)
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22", "root": "root-secret-333"}
HOMES = {"CDB001": ("s1a", "s1b"), "CDB002": ("s2a", "s2b"), "CDB003": ("s3a",)}
GROUP = "CDBA01"
CAPTION = "Quartier du Test"
GAP = (11 * 3600, 12 * 3600)  # local hour without data in CDB001 on DAY [s after midnight]


def token_of(sensor_id: str) -> str:
    return (sensor_id * 32)[:32]


def synthetic_power(start: int, end: int, scale: float = 1.0, phase: float = 0.0) -> PowerSeries:
    """Consumption around 400 W, a solar bell up to 3 kW at local noon [W]."""
    ts = np.arange(start, end, 8, dtype=np.int64)
    hour = ((ts - start) % 86400) / 3600.0
    cons = scale * (400 + 250 * np.sin(2 * np.pi * (hour + phase) / 24) ** 2)
    prod = -scale * 3000 * np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None)
    return PowerSeries(ts=ts, p_cons=cons, p_prod=prod, p_tot=cons + prod)


def write_power(store: Store, inst: str, series: PowerSeries) -> None:
    store.write_power(inst, series, 1)
    rollup_range(store, inst, int(series.ts[0]), int(series.ts[-1]) + 8)


def _concat(a: PowerSeries, b: PowerSeries) -> PowerSeries:
    return PowerSeries(
        *(
            np.concatenate((getattr(a, f), getattr(b, f)))
            for f in ("ts", "p_cons", "p_prod", "p_tot")
        )
    )


def seed(store: Store, day: date = DAY) -> None:
    rows = []
    for inst, sensors in HOMES.items():
        for i, sid in enumerate(sensors):
            rows.append(
                SensorRow(
                    inst, sid, token_of(sid), "FL01", "Mains" if i == 0 else "PV", 1, -i, 1, 0, 0
                )
            )
            if inst != "CDB003":
                rows.append(
                    SensorRow(
                        GROUP,
                        sid,
                        token_of(sid),
                        "FL01",
                        "Mains" if i == 0 else "PV",
                        1,
                        -i,
                        1,
                        0,
                        0,
                    )
                )
    store.save_config_version(ConfigVersion(version_id=1, rows=tuple(rows)))
    store.replace_access(
        [
            ("alice", "CDB001"),
            ("alice", GROUP),
            ("bob", "CDB002"),
            ("bob", GROUP),
            ("carol", "CDB003"),
        ]
    )
    store.replace_captions({GROUP: CAPTION, "CDBA09": "Groupe sans capteurs"})
    for login in ("alice", "bob"):
        set_password(store, login, PASSWORDS[login])
    set_role(store, "root", "admin")
    set_password(store, "root", PASSWORDS["root"])
    start, end = local_day_bounds(day)
    full1 = synthetic_power(start, end)
    keep = ~((full1.ts >= start + GAP[0]) & (full1.ts < start + GAP[1]))
    home1 = PowerSeries(full1.ts[keep], full1.p_cons[keep], full1.p_prod[keep], full1.p_tot[keep])
    home2 = synthetic_power(start, end, scale=1.5, phase=3)
    write_power(store, "CDB001", home1)
    write_power(store, "CDB002", home2)
    # the group's stored power: where at least one home has data, counting its homes
    write_power(store, GROUP, sum_of_homes([home1, home2]))


def make_app(store: Store, **kw):
    return create_app(store, Settings(database="sqlite:///unused.db"), **kw)


def login(client: TestClient, user: str, password: str | None = None) -> TestClient:
    """Log ``client`` in through the real login form (CSRF cookie + field)."""
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "login": user,
            "password": password or PASSWORDS[user],
            "csrf_token": csrf(client),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def csrf(client: TestClient) -> str:
    """The CSRF token the page gave this client (the signed cookie's value)."""
    page = client.get("/login").text
    marker = 'name="csrf-token" content="'
    i = page.index(marker) + len(marker)
    return page[i : page.index('"', i)]


# On SQLite only: what the app reads of the seeded store (config, access, captions, users,
# meta, power, rollups, sharing) is proven on both backends by tests/storage/test_contract.py
# and tests/sharing/test_sharing_storage.py (the store fixture); on Cassandra the seeding
# alone took 6-17 s per module.
@pytest.fixture(scope="module", params=["sqlite"])
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The seeded community, once per test module (seeding takes seconds); tests that
    change accounts use the function-scoped ``store`` fixture instead."""
    path = tmp_path_factory.mktemp("web") / "vde.db"
    with open_store(f"sqlite:///{path}") as s:
        s.create_schema()
        seed(s)
        yield s


@pytest.fixture(scope="module")
def app(seeded: Store):
    return make_app(seeded, login_guard=LoginGuard(per_login=5, per_ip=50))


@pytest.fixture(scope="module")
def anon(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def alice(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield login(c, "alice")


@pytest.fixture(scope="module")
def admin(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield login(c, "root")


__all__ = ["CSRF_COOKIE"]
