"""The dashboard's energy bars show what a home received from its community ("from
neighbours", from the stored run) and what it still imported from its supplier (SQLite,
see ``pytestmark``): the bars add up to the stored results and the stack still sums to
the import. The dashboard links to the community's sharing page for those who may see the
group."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sharing_support import T0, write_community
from tests.web.conftest import login

from vde.accounts import set_password
from vde.settings import Settings
from vde.storage import Store
from vde.sync import sharing as sh
from vde.sync.recompute import rollup_range
from vde.timeutil import local_day_bounds
from vde.web.app import create_app
from vde.web.bars import period_bounds

# Once, on SQLite: the sharing tables (write/read_quarters, write/read/delete_sharing,
# replace_sharing_keys, sharing_keys) are proven on both backends by test_sharing_storage,
# power, rollups and meta by tests/storage/test_contract.py.
pytestmark = pytest.mark.backends("sqlite")

PASSWORD = "a-long-secret-42"
DAY = date(2025, 11, 28)  # T0's local day (the run covers two UTC days)


def _stored_kwh(store: Store, home: str, start: int, end: int) -> float:
    shares = store.read_sharing("CDBZ01", start, end)
    return float(shares.received_wh[:, shares.members.index(home)].sum()) / 1000


def test_bars_from_neighbours_add_up_to_the_stored_run(
    store: Store, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("VDE_CONFIG", str(tmp_path / "empty.toml"))
    settings = Settings(
        database="sqlite:///unused.db",
        sharing_keys={"CDBZ01": [{"method": "priority", "order": ["C3", "C1"]}]},
        sharing_price_supplier=0.30,
        sharing_price_shared=0.10,
    )
    c = write_community(store)
    for home in c.members:  # the bars read rollups, as after a sync
        rollup_range(store, home, c.start, c.end)
    sh.run(store, settings, "CDBZ01", T0, c.end)
    store.replace_access([("c3", "C3"), ("c3", "C2")])
    set_password(store, "c3", PASSWORD)
    with TestClient(create_app(store, settings)) as client:
        login(client, "c3", PASSWORD)
        for home, period, day in [
            ("C3", "day", DAY),
            ("C3", "month", DAY),
            ("C2", "week", DAY),
            ("C3", "day", date(2025, 11, 29)),
        ]:
            r = client.get(f"/api/installations/{home}/energy?period={period}&date={day}")
            assert r.status_code == 200, r.text
            d = r.json()
            bars, totals = d["bars"], d["totals"]
            got = [v for v in bars["from_neighbours_kwh"] if v is not None]
            start, end = period_bounds(period, day)
            stored = _stored_kwh(store, home, start, end)
            assert sum(got) == pytest.approx(stored, abs=1e-3 * len(got)), (home, period)
            assert totals["from_neighbours_kwh"] == pytest.approx(stored, abs=1e-3)
            for imp, sup, nb in zip(
                bars["imported_kwh"],
                bars["from_supplier_kwh"],
                bars["from_neighbours_kwh"],
                strict=True,
            ):
                if nb is not None and imp is not None:
                    assert sup + nb == pytest.approx(imp, abs=2e-3)
            assert totals["from_supplier_kwh"] + totals["from_neighbours_kwh"] == pytest.approx(
                totals["imported_kwh"], abs=1e-3
            )
            assert totals["from_neighbours_eur"] == pytest.approx(stored * 0.20, abs=0.01)
        # C3 comes first in the priority order: it received the whole shared energy (4 h of
        # 500 W a day), C2 nothing (0 kWh where a result is stored, not null)
        c3 = client.get(f"/api/installations/C3/energy?period=day&date={DAY}").json()
        assert c3["totals"]["from_neighbours_kwh"] == pytest.approx(2.0, abs=1e-3)
        c2 = client.get(f"/api/installations/C2/energy?period=day&date={DAY}").json()
        assert c2["totals"]["from_neighbours_kwh"] == 0
        # the local day starts at 23:00 UTC, an hour before the run: that bar has no result
        nb = c2["bars"]["from_neighbours_kwh"]
        assert nb[0] is None and None not in nb[1:]
        # a day before the run: no result stored, every bar null and nothing else added
        before = client.get("/api/installations/C3/energy?period=day&date=2025-11-20").json()
        assert set(before["bars"]["from_neighbours_kwh"]) == {None}
        assert before["totals"]["from_neighbours_kwh"] is None
        assert "from_supplier_kwh" not in before["bars"]
        start, end = local_day_bounds(DAY)
        assert np.isclose(_stored_kwh(store, "C3", start, end), 2.0, atol=1e-3)
        # the dashboard links to the community's page only for those who may see the group
        assert "/sharing/CDBZ01" not in client.get("/i/C3").text
        store.replace_access([("c3", "C3"), ("c3", "C2"), ("c3", "CDBZ01")])
        for page in ("/i/C3", "/i/CDBZ01"):
            html = client.get(page).text
            assert 'id="sharing-link-CDBZ01" href="/sharing/CDBZ01"' in html, page
        assert client.get("/sharing/CDBZ01?month=2025-11").status_code == 200


def test_browser_shows_the_neighbours_segment_and_arrow(
    sqlite_store: Store, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Chromium: the bars' legend has the "from neighbours" segment, the flow diagram its
    arrow with the kWh, the import card the € saved; no script error."""
    from tests.web.server import chromium, serve
    from tests.web.test_browser import axe

    store = sqlite_store
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("VDE_CONFIG", str(tmp_path / "empty.toml"))
    settings = Settings(
        database="sqlite:///unused.db",
        sharing_keys={"CDBZ01": [{"method": "priority", "order": ["C3", "C1"]}]},
    )
    c = write_community(store)
    for home in c.members:
        rollup_range(store, home, c.start, c.end)
    sh.run(store, settings, "CDBZ01", T0, c.end)
    store.replace_access([("c3", "C3")])
    set_password(store, "c3", PASSWORD)
    with serve(create_app(store, settings)) as url, chromium() as browser:
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(url + "/login")
        page.fill("#login", "c3")
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(url + "/**")
        page.goto(f"{url}/i/C3?period=day&date={DAY}&lang=en")
        page.wait_for_selector("#chart .u-legend :text('From neighbours')", timeout=15000)
        page.wait_for_selector("#chart .u-legend :text('From the supplier')", timeout=15000)
        page.wait_for_selector("#flow-nb:not(.d-none)", state="attached", timeout=15000)
        assert page.text_content("#flow-nb-kwh").strip().startswith("2")
        assert "from neighbours" in page.inner_text("#nb-imported")
        assert "/sharing/CDBZ01" not in page.content()  # c3 may not see the group
        # the community's page on a phone, in French: decimal commas, no serious axe finding
        store.replace_access([("c3", "C3"), ("c3", "CDBZ01")])
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{url}/sharing/CDBZ01?month=2025-11&lang=fr")
        assert "," in page.text_content("#sharing-shared")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        axe(page, url)
        context.close()
    assert errors == []
