"""Configuration lint: wiring the Function names contradict, as a warning on import and on
the admin page (the workbook still imports: the real fleet has such rows)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from vde.accounts import set_password, set_role
from vde.cli import cli
from vde.models import SensorRow
from vde.processing.configlint import home_of, kind_of, lint, members_of, violations
from vde.processing.workbook import write_workbook
from vde.settings import Settings
from vde.simulator import Faults, Fleet
from vde.storage import open_store
from vde.web.app import create_app


def row(inst: str, sid: str, fn: str, net: int, prod: int, flm: str = "FL1") -> SensorRow:
    return SensorRow(inst, sid, "t" * 32, flm, fn, net, prod, 0, 0, 0)


def home(inst: str, p: str, **signs: tuple[int, int]) -> list[SensorRow]:
    base = {"Mains": (1, 0), "Mains-": (-1, 0), "PV": (0, -1), "PV-": (0, 1)}
    base.update({k.replace("_minus", "-"): v for k, v in signs.items()})
    return [row(inst, p + fn, fn, *base[fn], flm=f"FL{inst}") for fn in base]


def test_function_names():
    grid = ["Mains", "Mains-", "Phase L1", "phase L2-", "Mains phase 2", "L3", "Main"]
    assert {kind_of(f) for f in grid} == {"grid"}
    assert {kind_of(f) for f in ["PV", "PV-", "pv 2", "Solar"]} == {"pv"}
    assert {kind_of(f) for f in ["EV", "EV-", "Heat pump", ""]} == {None}


def test_a_healthy_home_has_no_finding():
    rows = home("H", "h")
    assert lint(rows) == [] and violations(rows, home_of(rows)) == set()


def test_the_three_rules_name_installation_sensors_and_what_to_do():
    rows = home("H", "h", PV=(-1, -1), PV_minus=(1, 1))  # PV also counted in Network
    rows += home("K", "k", Mains=(1, -1))  # a grid clamp in Prod
    rows += home("L", "l", PV_minus=(0, -1))  # twins with the same sign
    found = {(f.installation_id, f.code, f.column): f for f in lint(rows)}
    assert set(found) == {
        ("H", "pv_in_network", "Network"),
        ("K", "grid_in_prod", "Prod"),
        ("L", "twins_same_sign", "Prod"),
    }
    pv = found[("H", "pv_in_network", "Network")]
    assert pv.sensor_ids == ("hPV", "hPV-") and pv.hint == "blank Network on PV and PV-"
    assert str(pv).startswith("warning: H: PV and PV- counted in Network (PV -1, PV- +1)")
    assert "blank Prod on Mains" in str(found[("K", "grid_in_prod", "Prod")])
    assert "opposite signs in Prod" in str(found[("L", "twins_same_sign", "Prod")])
    # no token anywhere in what is printed
    assert all("t" * 32 not in str(f) for f in found.values())


def test_pv_in_network_without_grid_clamps_is_not_a_finding():
    rows = [row("H", "pv", "PV", 1, -1), row("H", "heat", "Heat pump", 1, 0)]
    assert lint(rows) == []


def test_groups_name_sensors_with_their_home():
    homes_rows = home("CDB001", "a") + home("CDB003", "c", PV=(-1, -1))
    group = [replace(r, installation_id="CDBA01") for r in homes_rows]
    rows = homes_rows + group
    homes = home_of(rows)
    assert homes["cPV"] == "CDB003" and homes["aMains"] == "CDB001"
    assert members_of(rows, homes)["CDBA01"] == ["CDB001", "CDB003"]
    by_inst = {f.installation_id: f for f in lint(rows)}
    assert set(by_inst) == {"CDB003", "CDBA01"}
    assert by_inst["CDBA01"].functions == ("CDB003 / PV",)
    # a one-home group has the same rows as its home: the home keeps its sensors
    one = home("CDB002", "b") + [replace(r, installation_id="CDBA02") for r in home("X", "b")]
    assert set(home_of(one).values()) == {"CDB002"}


# once, on SQLite: save_config / load_config / users on both backends are in
# tests/storage/test_contract.py and test_config_hostile.py::test_store_save_config_is_all_or_nothing
@pytest.mark.backends("sqlite")
def test_import_prints_the_warnings_still_imports_and_the_admin_page_shows_them(
    store_url, tmp_path
):
    fleet = Fleet.generate(homes=4, seed=5, now_ts=1_790_000_000)
    fleet.apply_faults(Faults(pvinnetwork=frozenset({"CDB004"})))
    path = tmp_path / "Configuration.xlsx"
    write_workbook(path, fleet.config_rows(), fleet.access_rows(), fleet.captions())
    res = CliRunner().invoke(cli, ["config", "import", str(path), "--db", store_url])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if "counted in Network" in line]
    assert [re.match(r"warning: (\w+):", w).group(1) for w in warned] == ["CDB004", "CDBZ01"]
    assert "the grid exchange is counted twice — blank Network on PV" in warned[0]
    assert "created configuration version" in res.stdout
    with open_store(store_url) as store:
        assert len(store.load_config().rows) == len(fleet.config_rows())
        set_password(store, "root", "a-Long-admin-passphrase-2026")
        set_role(store, "root", "admin")
        app = create_app(store, Settings(database=store_url))
        with TestClient(app) as client:
            page = client.get("/login").text
            marker = 'name="csrf-token" content="'
            i = page.index(marker) + len(marker)
            token = page[i : page.index('"', i)]
            r = client.post(
                "/login",
                data={
                    "login": "root",
                    "password": "a-Long-admin-passphrase-2026",
                    "csrf_token": token,
                    "next": "/admin",
                },
                follow_redirects=True,
            )
            assert r.status_code == 200
            admin = client.get("/admin").text
    block = admin[admin.index('id="lint-CDB004"') :]
    block = block[: block.index("</div>")]
    # the admin page speaks the page's language (French by default)
    assert "PV compté dans Network" in block or "PV et PV- compté dans Network" in block
    assert "videz Network pour PV" in block
    assert 'id="lint-CDBZ01"' in admin and 'id="lint-CDB001"' not in admin
