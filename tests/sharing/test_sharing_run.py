"""Sharing on stored data (SQLite, see ``pytestmark``): what-if, runs with dated keys, indicators,
statements over SMTP. Expected numbers come from the community's constant powers
(conftest): per producing quarter P1 injects 125 Wh, C1/C2/C3 take 75/150/225 Wh."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sharing_support import GAP_S, T0, Community

from vde.errors import SharingError
from vde.settings import Settings
from vde.storage import Store
from vde.sync import sharing as sh
from vde.sync.sharing_statements import send_statements

# Once, on SQLite: the sharing tables (write/read_quarters, write/read/delete_sharing,
# replace_sharing_keys, sharing_keys) are proven on both backends by test_sharing_storage,
# power, rollups and meta by tests/storage/test_contract.py.
pytestmark = pytest.mark.backends("sqlite")

PRODUCING_QUARTERS = 2 * 4 * 4  # 10:00-14:00 UTC on two days
KEYS = {
    "CDBZ01": [
        {"method": "fixed", "shares": {"C1": 50, "C2": 30, "C3": 20}},
        {"valid_from": "2025-11-29", "method": "priority", "order": ["C3", "C1"]},
    ]
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("VDE_CONFIG", str(tmp_path / "empty.toml"))
    return Settings(
        sharing_keys=KEYS,
        sharing_price_shared=0.15,
        sharing_price_supplier=0.32,
        sharing_price_injection=0.04,
        sharing_network_reduction=0.02,
    )


def _by_member(outcome: dict) -> dict[str, dict]:
    return {r["member"]: r for r in outcome["members"]}


def test_members_of_the_community(store: Store, community: Community) -> None:
    assert sh.community_members(store, "CDBZ01") == ["C1", "C2", "C3", "P1"]
    with pytest.raises(SharingError, match="'C1' is not a group"):
        sh.community_members(store, "C1")


def test_simulate_compares_keys_by_hand(
    store: Store, community: Community, settings: Settings
) -> None:
    sim = sh.simulate(
        store, settings, "CDBZ01", ["prorata", "fixed", "hybrid", "priority"], T0, community.end
    ).to_json()
    assert [k["key"] for k in sim["keys"]] == ["prorata", "fixed", "hybrid", "priority"]
    assert [k["note"] for k in sim["keys"]] == [
        "",
        "the latest configured percentages",
        "the latest configured percentages",
        "order C3, C1",
    ]
    n = PRODUCING_QUARTERS
    expected = {
        "prorata": {"C1": 125 * 75 / 450, "C2": 125 * 150 / 450, "C3": 125 * 225 / 450},
        "fixed": {"C1": 62.5, "C2": 37.5, "C3": 25.0},
        "hybrid": {"C1": 62.5, "C2": 37.5, "C3": 25.0},
        "priority": {"C1": 0.0, "C2": 0.0, "C3": 125.0},  # the latest order: C3 first
    }
    for outcome in sim["keys"]:
        rows = _by_member(outcome)
        for m, wh in expected[outcome["key"]].items():
            assert rows[m]["received_kwh"] == pytest.approx(n * wh / 1000, abs=1e-3)
            assert rows[m]["saved_eur"] == pytest.approx(n * wh / 1000 * 0.19, abs=0.01)
        assert rows["P1"]["shared_out_kwh"] == pytest.approx(n * 0.125, abs=1e-3)
        assert rows["P1"]["saved_eur"] == pytest.approx(n * 0.125 * 0.11, abs=0.01)
        totals = outcome["totals"]
        assert totals["shared_kwh"] == pytest.approx(n * 0.125, abs=1e-3)
        assert totals["collective_self_consumption"] == pytest.approx(1.0)
        # C3's first quarter lacks 448 s: computed on what exists and flagged
        assert rows["C3"]["flagged_quarters"] == 1
        assert rows["C3"]["offtake_kwh"] == pytest.approx(
            (2 * 86400 - GAP_S) * 900 / 3600 / 1000, abs=1e-3
        )
    # prorata is the fairest: C1-C3 save the same per kWh (P1 takes offtake only at night);
    # € per kWh of offtake: prorata 0.19 * 32/192 * 125/450 for each consumer, 0 for P1
    spreads = {k["key"]: k["fairness"]["spread_eur_per_kwh"] for k in sim["keys"]}
    assert spreads["prorata"] == pytest.approx(0.19 * 32 / 192 * 125 / 450, abs=1e-4)
    assert spreads["prorata"] < min(spreads["fixed"], spreads["priority"])
    # fixed: C1 gets 62.5 of its 75 Wh, the most per kWh
    assert spreads["fixed"] == pytest.approx(0.19 * 32 / 192 * 62.5 / 75, abs=1e-4)
    # balances are stored: a second what-if reads them instead of power
    assert store.read_quarters(["C1"], T0, T0 + 900)["C1"].covered_s.tolist() == [900]


def test_run_stores_dated_key_results_and_indicators(
    store: Store, community: Community, settings: Settings
) -> None:
    report = sh.run(store, settings, "CDBZ01", T0, community.end)
    assert report.keys == ["fixed", "priority"]
    assert report.quarters == 2 * 96
    assert report.shared_kwh == pytest.approx(PRODUCING_QUARTERS * 0.125)
    stored = store.read_sharing("CDBZ01", T0, community.end)
    assert stored.members == ("C1", "C2", "C3", "P1")
    day1 = (stored.ts >= T0 + 10 * 3600) & (stored.ts < T0 + 14 * 3600)
    assert stored.received_wh[day1][0].tolist() == pytest.approx([62.5, 37.5, 25.0, 0.0])
    day2 = (stored.ts >= T0 + 86400 + 10 * 3600) & (stored.ts < T0 + 86400 + 14 * 3600)
    assert stored.received_wh[day2][0].tolist() == pytest.approx([0.0, 0.0, 125.0, 0.0])

    ind = sh.stored_indicators(store, settings, "CDBZ01", T0, community.end, "day")
    # the UTC window is local [01:00 Nov 28, 01:00 Nov 30)
    assert ind.labels == ["2025-11-28", "2025-11-29", "2025-11-30"]
    assert ind.quarters.tolist() == [92, 96, 4]
    assert ind.received_wh[:, 0].tolist() == pytest.approx([16 * 62.5, 0.0, 0.0])
    assert ind.received_wh[:, 2].tolist() == pytest.approx([16 * 25.0, 16 * 125.0, 0.0])
    assert ind.self_sufficiency()[0] == pytest.approx(16 * 125 / ind.offtake_wh[0].sum())
    month = sh.stored_indicators(store, settings, "CDBZ01", T0, community.end, "month")
    assert month.labels == ["2025-11"]
    assert month.received_wh.sum() == pytest.approx(PRODUCING_QUARTERS * 125.0)

    # a second run over part of the window replaces just that part
    settings2 = settings.model_copy(update={"sharing_keys": {"CDBZ01": [{"method": "prorata"}]}})
    sh.run(store, settings2, "CDBZ01", T0 + 86400, community.end)
    again = store.read_sharing("CDBZ01", T0, community.end)
    assert again.received_wh[day1][0].tolist() == pytest.approx([62.5, 37.5, 25.0, 0.0])
    assert again.received_wh[day2][0, 0] == pytest.approx(125 * 75 / 450)


def test_run_without_keys_says_how_to_add_them(
    store: Store, community: Community, settings: Settings
) -> None:
    bare = settings.model_copy(update={"sharing_keys": {}})
    with pytest.raises(SharingError, match="SharingKeys sheet"):
        sh.run(store, bare, "CDBZ01", T0, community.end)


def test_statements_go_out_through_smtp(
    sqlite_store: Store, settings: Settings, smtp, tmp_path: Path
) -> None:
    from sharing_support import write_community

    c = write_community(sqlite_store)
    port, box = smtp
    s = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_recipients": ["admin@vde.test"],
            "smtp_sender": "vde@vde.test",
            "sharing_statement_emails": {"C3": "c3@vde.test"},
        }
    )
    sh.run(sqlite_store, s, "CDBZ01", T0, c.end)
    dry = send_statements(sqlite_store, s, "CDBZ01", date(2025, 11, 1), dry_run=True)
    assert len(dry.lines) == 4 and not box.messages
    assert "Subject: Energy sharing CDBZ01 – statement 2025-11 – C1" in dry.lines[0]

    out = send_statements(sqlite_store, s, "CDBZ01", date(2025, 11, 1), folder=str(tmp_path))
    out.raise_for_delivery()
    assert len(box.messages) == 4
    assert box.rcpts[2] == ["c3@vde.test"] and box.rcpts[0] == ["admin@vde.test"]
    msg = box.messages[2]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    # November holds the first 92 + 96 quarters (local days 28 and 29): C3's priority day
    assert re.search(r"of which from neighbours: +2\.40 kWh", text)  # 16 * 25 + 16 * 125 Wh
    page = (tmp_path / "STATEMENT-C3-2025-11.html").read_text()
    assert "<h1>Energy sharing – 2025-11</h1>" in page and "2.40 kWh" in page
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "2.40 kWh" in html


def test_statements_report_undelivered_members(sqlite_store: Store, settings: Settings) -> None:
    from sharing_support import write_community

    from vde.errors import MailError

    c = write_community(sqlite_store)
    sh.run(sqlite_store, settings, "CDBZ01", T0, c.end)
    out = send_statements(sqlite_store, settings, "CDBZ01", date(2025, 11, 1))
    assert len(out.failed) == 4
    assert "email is not configured" in out.lines[0]
    with pytest.raises(MailError, match="4 statement"):
        out.raise_for_delivery()


def test_balances_of_recent_days_are_recomputed(store: Store, community: Community) -> None:
    homes = ["C1"]
    n = sh.update_balances(store, homes, T0, T0 + 86400, now=community.end + 10 * 86400)
    assert n == 96
    # old and stored: nothing to do; recent: recomputed
    assert sh.update_balances(store, homes, T0, T0 + 86400, now=community.end + 10 * 86400) == 0
    assert sh.update_balances(store, homes, T0, T0 + 86400, now=T0 + 86400) == 96
    assert sh.update_balances(store, homes, T0, T0 + 86400, refresh=True, now=T0 + 9e9) == 96
    b = store.read_quarters(homes, T0, T0 + 86400)["C1"]
    assert np.allclose(b.offtake_wh, 75.0)


def test_keys_naming_strangers_are_refused(
    store: Store, community: Community, settings: Settings
) -> None:
    bad = settings.model_copy(
        update={"sharing_keys": {"CDBZ01": [{"method": "priority", "order": ["C1", "CDB999"]}]}}
    )
    with pytest.raises(SharingError, match="names CDB999, not member"):
        sh.run(store, bad, "CDBZ01", T0, community.end)
    assert len(store.read_sharing("CDBZ01", T0, community.end)) == 0


def test_windows_too_long_or_empty_are_refused(store: Store, settings: Settings) -> None:
    with pytest.raises(SharingError, match="longer than five years"):
        sh.simulate(store, settings, "CDBZ01", ["prorata"], 0, 10**11)
    with pytest.raises(SharingError, match="empty"):
        sh.run(store, settings, "CDBZ01", T0, T0)
