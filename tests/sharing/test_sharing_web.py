"""The community's sharing page and JSON: admins see ids, members their own row and
anonymised neighbours, others get 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sharing_support import T0, write_community
from tests.web.conftest import login

from vde.accounts import set_password, set_role
from vde.settings import Settings
from vde.storage import open_store
from vde.sync import sharing as sh
from vde.web.app import create_app

PASSWORD = "a-long-secret-42"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One seeded database for the module (seeding and password hashing take seconds)."""
    tmp = tmp_path_factory.mktemp("sharing-web")
    (tmp / "empty.toml").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VDE_CONFIG", str(tmp / "empty.toml"))
        settings = Settings(
            database="sqlite:///unused.db",
            sharing_keys={"CDBZ01": [{"method": "priority", "order": ["C3", "C1"]}]},
        )
    with open_store(f"sqlite:///{tmp / 'vde.db'}") as store:
        store.create_schema()
        c = write_community(store)
        sh.run(store, settings, "CDBZ01", T0, c.end)
        store.replace_access([("c1", "C1"), ("c1", "CDBZ01"), ("p1", "P1")])
        for user in ("c1", "p1", "root"):
            set_password(store, user, PASSWORD)
        set_role(store, "root", "admin")
        yield create_app(store, settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_admin_sees_every_member_by_id(client: TestClient) -> None:
    login(client, "root", PASSWORD)
    data = client.get("/api/sharing/CDBZ01?month=2025-11").json()
    assert data["period"]["shared_kwh"] == pytest.approx(4.0)  # 32 producing quarters in Nov
    rows = {r["member"]: r for r in data["members"]}
    assert set(rows) == {"C1", "C2", "C3", "P1"}
    assert rows["C3"]["received_kwh"] == pytest.approx(4.0)  # priority: C3 first
    page = client.get("/sharing/CDBZ01?month=2025-11&lang=en")
    assert page.status_code == 200
    assert "Energy sharing – Quartier – toutes les maisons" in page.text
    assert ">C2<" in page.text


def test_member_sees_own_statement_and_anonymised_neighbours(client: TestClient) -> None:
    login(client, "c1", PASSWORD)
    data = client.get("/api/sharing/CDBZ01?month=2025-11").json()
    members = data["members"]
    assert members[0]["member"] == "C1" and members[0]["own"] is True
    assert [r["member"] for r in members[1:]] == [None, None, None]
    # neighbours ordered by energy received (C3 first), so the order reveals no id
    assert members[1]["received_kwh"] == pytest.approx(4.0)
    page = client.get("/sharing/CDBZ01?month=2025-11&lang=fr").text
    assert "Votre relevé – C1 – 2025-11" in page
    assert 'id="sharing-shared">4,0 kWh<' in page  # the page's decimal comma
    assert "voisin 1" in page and ">C3<" not in page and "C2" not in page
    # nothing before any run
    empty = client.get("/api/sharing/CDBZ01?month=2025-10").json()
    assert empty["period"] is None and empty["members"] == []
    for bad in ("9999-12", "0001-01", "2025-13", "x"):
        assert client.get(f"/api/sharing/CDBZ01?month={bad}").status_code == 422, bad


def test_other_members_and_anonymous_get_nothing(client: TestClient) -> None:
    assert client.get("/api/sharing/CDBZ01").status_code == 401
    login(client, "p1", PASSWORD)
    assert client.get("/api/sharing/CDBZ01?month=2025-11").status_code == 404
    assert client.get("/api/sharing/P1?month=2025-11").status_code == 404  # a home
    assert client.get("/sharing/CDBZ01?month=2025-11").status_code == 404


def test_a_home_sees_what_it_received_per_day(client: TestClient) -> None:
    login(client, "c1", PASSWORD)
    data = client.get("/api/sharing/home/C1?month=2025-11").json()
    (community,) = data["communities"]
    assert community["community"] == "CDBZ01"
    days = {p["period"]: p for p in community["periods"]}
    assert sorted(days) == ["2025-11-28", "2025-11-29", "2025-11-30"]  # UTC window: to 01:00
    # priority C3, C1: C3 takes the whole 125 Wh of each producing quarter, C1 nothing
    assert days["2025-11-28"]["received_kwh"] == 0.0
    assert days["2025-11-28"]["offtake_kwh"] == pytest.approx(92 * 75 / 1000)
    assert client.get("/api/sharing/home/C3?month=2025-11").status_code == 404  # not hers
    assert client.get("/api/sharing/home/CDBZ01").status_code == 404  # a group
