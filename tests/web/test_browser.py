"""End to end in real headless Chromium against a real uvicorn server, as journeys (each
Chromium start costs seconds, so one browser serves the whole session):

- a member at desktop size: energy bars of a day with coverage, comparisons and the energy
  flow, year bars and a tap into a month, the power curve and its zoom, CSV downloads in
  the page's language, another member's home, Dutch, logging out;
- the same member on a 390x844 phone with touch: chart on the first screen, nothing wider
  than the screen, a tap shows the tooltip, Accept-Language on a first visit, a bad date;
- live data arriving while today is shown, after a real sync too;
- the administrators' page.

axe-core (npm, vendored with the other front-end libraries) runs on every page: no serious
or critical violation. Screenshots go to the pytest temporary directory (``screenshots``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vde.settings import Settings
from vde.storage import open_store
from vde.storage.base import Store
from vde.timeutil import local_day_bounds, local_day_of, now_ts
from vde.web.app import create_app

from .conftest import DAY, GAP, PASSWORDS, make_app, seed, synthetic_power, write_power
from .server import chromium, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, Store]]:
    path = tmp_path_factory.mktemp("browser") / "vde.db"
    with open_store(f"sqlite:///{path}") as store:
        store.create_schema()
        seed(store)
        # today until 10 minutes ago, so the live test can add the last minutes
        start = local_day_bounds(local_day_of(now_ts()))[0]
        upto = now_ts() - 600
        upto -= upto % 8
        if upto - start > 3600:
            write_power(store, "CDB001", synthetic_power(start, upto))
        # tariffs set, so the cards and bars show euros
        settings = Settings(
            database="sqlite:///unused.db",
            tariff_import_eur_kwh=0.30,
            tariff_export_eur_kwh=0.05,
        )
        with serve(create_app(store, settings, live_poll_s=0.5)) as url:
            yield url, store


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for every journey of this module (the only one that drives a browser).
    Module scope, not session: Playwright's sync API keeps an event loop running on this
    thread while it is open, and later tests call asyncio.run."""
    with chromium() as b:
        yield b


def _context(browser, viewport=DESKTOP, **kw):
    context = browser.new_context(viewport=viewport, accept_downloads=True, **kw)
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return context, pg


@pytest.fixture
def page(browser):
    context, pg = _context(browser, locale="fr-BE")
    yield pg
    context.close()


def log_in(page, url: str, user: str) -> None:
    page.goto(url + "/")
    page.wait_for_url("**/login**")
    page.fill("#login", user)
    page.fill("#password", PASSWORDS[user])
    page.click("form[action='/login'] button[type=submit]")


def wait_chart(page, **attrs) -> None:
    """Wait until the chart shows data matching ``attrs`` (data-* attributes)."""
    sel = "#chart" + "".join(f"[data-{k}='{v}']" for k, v in attrs.items())
    page.wait_for_selector(sel + " canvas", timeout=15000)
    page.wait_for_selector("#loading.d-none", state="attached", timeout=15000)


def shot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert (shots / f"{name}.png").stat().st_size > 1000


def set_date(page, iso: str) -> None:
    page.fill("#date", iso)
    page.dispatch_event("#date", "change")


def axe(page, url: str) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    page.add_script_tag(url=url + "/static/vendor/axe.min.js")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad


def text(page, sel: str) -> str:
    return page.text_content(sel).strip().replace("\u202f", " ").replace("\xa0", " ")


def fr(v: float, digits: int = 1) -> str:
    return f"{v:.{digits}f}".replace(".", ",")


def test_member_journey(site, page, shots):
    url, store = site
    page.goto(url + "/login")
    axe(page, url)
    shot(page, shots, "01-login")
    log_in(page, url, "alice")
    page.wait_for_url("**/i/CDB001**")
    wait_chart(page)

    # the home's day: 24 hourly kWh bars, cards with the exact totals and their coverage
    set_date(page, DAY.isoformat())
    wait_chart(page, view="energy", unit="hour", bars=24)
    assert "15 juin 2026" in page.inner_text("#range-label")
    api = page.request.get(f"{url}/api/installations/CDB001/energy?date={DAY}").json()
    tot = api["totals"]
    assert text(page, "#val-consumed") == f"{fr(tot['consumed_kwh'])} kWh"
    assert text(page, "#val-produced") == f"{fr(tot['produced_kwh'])} kWh"
    missing = round(100 * (1 - tot["coverage"]))
    assert text(page, "#cov-consumed") == f"incomplet : {missing} % manquant"
    assert text(page, "#val-self_consumption").endswith("%")
    assert text(page, "#flow-self") == f"{fr(tot['self_consumed_kwh'])} kWh"
    assert text(page, "#flow-imp") == f"{fr(tot['imported_kwh'])} kWh"
    assert "consommation" in page.inner_text("#chart-summary")
    # tariffs are set: euros on the cards, from the API's per-hour costs
    cost = tot["cost"]
    assert text(page, "#eur-imported") == f"payé {fr(cost['import_eur'], 2)} €"
    assert text(page, "#eur-exported") == f"reçu {fr(cost['export_eur'], 2)} €"
    assert page.is_hidden("#nodata")
    axe(page, url)
    shot(page, shots, "02-home-day-bars")

    # a day the server cannot show: its reason, in French, says what to do
    set_date(page, "2500-01-01")
    page.wait_for_selector("#nodata:has-text('Date hors limites : 2500-01-01.')")
    assert "erreur 422" in text(page, "#nodata") and "entre 1900 et 2199" in text(page, "#nodata")
    set_date(page, DAY.isoformat())
    page.wait_for_selector("#nodata", state="hidden")

    # a day without data: dashes, never 0,0 kWh
    page.click("#prev")
    page.wait_for_selector("#nodata:not(.d-none)")
    assert text(page, "#val-consumed") == "–" and text(page, "#val-self_consumption") == "–"
    # the day after: its previous period (DAY) in euros on the cards, same tariffs
    page.click("#next")
    wait_chart(page, view="energy", bars=24)
    page.click("#next")
    page.wait_for_selector("#eurcmp-imported:not(.d-none)")
    prev_eur = f"période précédente : {fr(cost['import_eur'], 2)} €"
    assert text(page, "#eurcmp-imported") == prev_eur
    assert text(page, "#eurcmp-exported") == f"période précédente : {fr(cost['export_eur'], 2)} €"
    page.click("#prev")
    wait_chart(page, view="energy", bars=24)
    page.wait_for_selector("#eurcmp-imported.d-none", state="attached")

    # the group's per-home average in numbers, the previous period as ghost bars
    page.select_option("#compare", "CDBA01")
    page.wait_for_selector("#compare-box:not(.d-none)")
    assert "Quartier du Test (2 maisons)" in page.inner_text("#compare-title")
    assert page.locator("#compare-table tbody tr").count() == 4
    assert "%" in page.inner_text("#compare-table tbody tr:first-child td:last-child")
    page.check("#ghost")
    assert page.locator(
        "#chart .u-legend .u-series:not(.u-off) :text('période précédente')"
    ).count()
    axe(page, url)
    shot(page, shots, "03-home-compare-ghost")

    # a year has 12 monthly bars; a click on June opens its days
    page.click("label[for=period-year]")
    wait_chart(page, view="energy", unit="month", bars=12)
    assert page.inner_text("#range-label").strip() == "2026"
    shot(page, shots, "04-home-year")
    box = page.locator("#chart .u-over").bounding_box()
    page.mouse.click(box["x"] + box["width"] * (5.5 / 12), box["y"] + box["height"] / 2)
    wait_chart(page, view="energy", unit="day", bars=30)
    assert "juin 2026" in page.inner_text("#range-label")

    # the power curve stays available: a day at 1 min, drag to zoom to 8 s
    page.click("label[for=period-day]")
    set_date(page, DAY.isoformat())
    page.click("label[for=view-power]")
    wait_chart(page, view="power", points=1440, resolution=60)
    box = page.locator("#chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=8)
    page.mouse.up()
    wait_chart(page, view="power", resolution=8)
    assert page.is_visible("#unzoom")
    shot(page, shots, "05-home-power-zoom-8s")

    # CSV downloads: power shown, 8-s rows, energy per bar, in French (; and decimal comma)
    points = int(page.get_attribute("#chart", "data-points"))
    with page.expect_download() as dl:
        page.click("#csv-shown")
    assert dl.value.suggested_filename.startswith("CDB001_power_2026")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text()), delimiter=";"))
    assert rows[0][:3] == ["ts", "local_time", "p_cons_w"] and len(rows) - 1 == points
    assert rows[1][1].startswith("2026-06-15T") and rows[1][1].endswith("+02:00")
    with page.expect_download() as dl:
        page.click("#csv-raw")
    raw = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text()), delimiter=";"))
    assert len(raw) - 1 == 10800 - (GAP[1] - GAP[0]) // 8
    page.click("#unzoom")
    wait_chart(page, view="power", resolution=60)
    page.click("label[for=view-energy]")
    wait_chart(page, view="energy", bars=24)
    with page.expect_download() as dl:
        page.click("#csv-energy")
    assert dl.value.suggested_filename == "CDB001_energy_day-2026-06-15_hour.csv"
    energy_rows = Path(dl.value.path()).read_text().splitlines()
    assert energy_rows[0].startswith("start;end;consumed_kwh") and len(energy_rows) == 25
    page.check("#csv-comma")
    with page.expect_download() as dl:
        page.click("#csv-energy")
    assert Path(dl.value.path()).read_text().startswith("start,end,consumed_kwh")

    # the group: a community card says how many homes it has
    page.click("nav a[href='/i/CDBA01']")
    page.wait_for_url("**/i/CDBA01**")
    assert page.inner_text("#inst-title") == "Quartier du Test"
    assert "2 maisons" in page.inner_text("#inst-kind")
    set_date(page, DAY.isoformat())
    wait_chart(page, view="energy", bars=24)
    assert page.inner_text("#homes-note") == "2 maisons sur 2"
    # the hour one home misses is shaded, not blank: its tooltip counts 1 home of 2
    box = page.locator("#chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * ((GAP[0] / 3600 + 0.5) / 24), box["y"] + 30)
    page.wait_for_selector(
        "#chart .u-legend .u-series:first-child .u-value:has-text('1 maison sur 2')"
    )
    page.click("label[for=view-power]")
    wait_chart(page, view="power", points=1440)
    shot(page, shots, "06-group-day-power-partial")
    page.click("label[for=view-energy]")
    wait_chart(page, view="energy", bars=24)
    page.click("label[for=period-week]")
    wait_chart(page, view="energy", unit="day", bars=7)
    shot(page, shots, "06-group-week")

    # another member's home: same 404 as a home that does not exist
    r = page.goto(url + "/i/CDB002")
    assert r.status == 404 and "Page introuvable" in page.content()
    assert page.request.get(f"{url}/api/installations/CDB002/energy").status == 404
    axe(page, url)
    page.errors.clear()

    # Dutch
    page.goto(url + f"/i/CDB001?period=day&date={DAY}&lang=nl")
    wait_chart(page, bars=24)
    assert page.inner_text("#lbl-consumed") == "Verbruik"
    assert "juni" in page.inner_text("#range-label")
    assert "ontbreekt" in page.inner_text("#cov-consumed")
    shot(page, shots, "07-home-day-nl")
    page.goto(url + "/login?lang=fr")

    # log out: the dashboard asks for a login again
    page.goto(url + "/i/CDB001")
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(url + "/i/CDB001")
    assert "/login" in page.url
    assert page.errors == []  # no CSP violation, no script error


def test_phone_journey(site, browser, shots):
    """390x844 with touch, a Dutch browser on its first visit."""
    url, _ = site
    context, page = _context(browser, PHONE, has_touch=True, is_mobile=True, locale="nl-BE")
    try:
        page.goto(url + "/login")
        assert page.get_attribute("html", "lang") == "nl"  # Accept-Language: nl-BE
        log_in(page, url, "alice")
        page.wait_for_url("**/i/CDB001**")
        page.goto(url + f"/i/CDB001?period=day&date={DAY}")
        wait_chart(page, view="energy", bars=24)
        # the chart is on the first screen, the controls fit, nothing scrolls sideways
        chart = page.locator("#chart canvas").first.bounding_box()
        assert chart["y"] + chart["height"] <= PHONE["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        ctl = page.locator("#controls").bounding_box()
        assert ctl["x"] >= 0 and ctl["x"] + ctl["width"] <= PHONE["width"]
        # a tap on a bar shows its values in the legend (the tooltip)
        over = page.locator("#chart .u-over").bounding_box()
        legend = "#chart .u-legend .u-series:first-child .u-value"
        assert page.inner_text(legend).strip() == "–"
        page.touchscreen.tap(over["x"] + over["width"] * (13.5 / 24), over["y"] + 20)
        page.wait_for_selector(f"{legend}:has-text('13:00')")
        axe(page, url)
        shot(page, shots, "08-phone-day-nl")
        # two fingers spread from 40-60 % to 20-80 % of the chart: 09:36 and 14:24, first
        # under them, stay under them, so the chart shows 08:00-16:00 in 15-min bars
        day_start = int(page.get_attribute("#chart", "data-start"))
        pinch(page, (0.40, 0.60), (0.20, 0.80))
        wait_chart(page, view="energy", unit="15min")
        start = int(page.get_attribute("#chart", "data-start"))
        end = int(page.get_attribute("#chart", "data-end"))
        assert abs(start - (day_start + 8 * 3600)) < 600, start - day_start
        assert abs(end - (day_start + 16 * 3600)) < 600, end - day_start
        assert page.is_visible("#unzoom")
        shot(page, shots, "08-phone-pinch-zoom")
        # pinching back out past the whole day shows the day's hourly bars again
        pinch(page, (0.30, 0.70), (0.47, 0.53))
        wait_chart(page, view="energy", unit="hour", bars=24)
        assert page.is_hidden("#unzoom")
        # on the power curve a swipe across the chart zooms (touch events through CDP)
        page.click("label[for=view-power]")
        wait_chart(page, view="power", points=1440)
        over = page.locator("#chart .u-over").bounding_box()
        y = over["y"] + over["height"] / 2
        cdp = page.context.new_cdp_session(page)
        xs = [over["x"] + over["width"] * f for f in (0.40, 0.45, 0.50, 0.55)]
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": xs[0], "y": y}]},
        )
        for x in xs[1:]:
            cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        wait_chart(page, view="power", resolution=8)
        assert page.is_visible("#unzoom")
        shot(page, shots, "09-phone-swipe-zoom")
        page.click("#unzoom")
        page.click("label[for=view-energy]")
        wait_chart(page, view="energy", bars=24)
        # the menu opens and its links are readable (axe checks their contrast)
        page.click(".navbar-toggler")
        page.wait_for_selector("#nav-main.show")
        axe(page, url)
        shot(page, shots, "09-phone-menu-open")
        # a date that does not exist: the nearest valid day, with a message
        page.goto(url + "/i/CDB001?period=day&date=2026-02-30")
        page.wait_for_selector("#notice:not(.d-none)")
        assert "2026-02-28" in page.inner_text("#notice")
        assert page.input_value("#date") == "2026-02-28"
        page.goto(url + "/i/CDB001?period=day&date=2500-06-15")  # beyond the supported years
        page.wait_for_selector("#notice:not(.d-none)")
        assert "2199-12-30" in page.inner_text("#notice")
        assert page.input_value("#date") == "2199-12-30"
        page.wait_for_selector("#nodata:not(.d-none)")
        assert "(fout" not in page.inner_text("#nodata")  # a day without data, not an error
        shot(page, shots, "10-phone-bad-date")
        assert page.errors == []
    finally:
        context.close()


def pinch(page, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """Two fingers on the chart moving from ``start`` to ``end`` (fractions of its width),
    as a touch screen sends them (CDP Input.dispatchTouchEvent)."""
    over = page.locator("#chart .u-over").bounding_box()
    y = over["y"] + over["height"] / 2

    def points(fa: float, fb: float) -> list[dict]:
        return [
            {"x": over["x"] + over["width"] * f, "y": y, "id": i} for i, f in enumerate((fa, fb))
        ]

    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(*start)})
    for k in range(1, steps + 1):
        fa = start[0] + (end[0] - start[0]) * k / steps
        fb = start[1] + (end[1] - start[1]) * k / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points(fa, fb)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_live_update_while_today_is_shown(site, page, shots):
    url, store = site
    log_in(page, url, "alice")
    page.wait_for_url("**/i/CDB001**")
    wait_chart(page)
    page.wait_for_selector("#live-badge:not(.d-none)", timeout=10000)
    before = page.get_attribute("#chart", "data-last-ts")
    start = now_ts() - 300
    start -= start % 8
    write_power(store, "CDB001", synthetic_power(start, start + 296))
    t0 = time.monotonic()
    # (selectors, not wait_for_function: the page's CSP forbids eval, even Playwright's)
    page.wait_for_selector(f"#chart[data-last-ts='{start + 288}'] canvas", timeout=10000)
    assert time.monotonic() - t0 < 10
    assert before != str(start + 288)
    # the badge says how old the newest data is and the latest power
    page.wait_for_selector("#now-badge:not(.d-none)")
    assert "données jusqu'à" in page.inner_text("#now-badge")
    assert "kW" in page.inner_text("#now-badge")
    shot(page, shots, "11-home-today-live")
    assert page.errors == []


def test_admin_pages(site, page, shots):
    url, store = site
    log_in(page, url, "root")
    page.wait_for_url("**/i/**")
    page.goto(url + "/admin")
    assert "Synchronisation des capteurs" in page.content()
    text = page.inner_text("main")
    assert "alice" in text and "CDBA01" in text and "$argon2" not in page.content()
    assert page.locator("#health").is_visible()
    axe(page, url)
    shot(page, shots, "12-admin")
    # five installations: the menu is a list with a search box
    page.click("#inst-menu")
    page.fill("#inst-search", "a01")
    page.wait_for_selector(".vde-scroll-menu .inst-item.d-none", state="attached")
    visible = page.locator(".vde-scroll-menu .inst-item:not(.d-none)")
    assert visible.count() == 1 and "Quartier du Test" in visible.inner_text()
    axe(page, url)
    shot(page, shots, "13-admin-menu-search")
    # on a phone the tables scroll sideways inside the page, each a focusable region
    page.keyboard.press("Escape")
    page.set_viewport_size(PHONE)
    page.goto(url + "/admin")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    axe(page, url)
    shot(page, shots, "14-admin-phone")
    assert page.errors == []


def test_live_update_after_a_real_sync(browser, tmp_path, shots):
    """The whole chain: the Flukso simulator over HTTP, ``arun_sync`` into the store, the
    page showing today picks the new data up through SSE within 10 s of the sync."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from vde.flukso import FluksoClient
    from vde.models import ConfigVersion
    from vde.settings import load_settings
    from vde.simulator import Fleet, serve_in_thread
    from vde.sync.pipeline import arun_sync
    from vde.web.auth import set_password

    now = now_ts()
    fleet = Fleet.generate(homes=2, seed=3, start_ts=now - 3 * 3600, now_ts=now - 600)
    home = fleet.homes[0]
    with open_store(f"sqlite:///{tmp_path / 'vde.db'}") as store, serve_in_thread(fleet) as sim:
        store.create_schema()
        store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
        store.replace_access(fleet.access_rows())
        store.replace_captions(fleet.captions())
        set_password(store, home, "home-password-1")
        settings = load_settings(
            database=store.url, flukso_api_url=sim.url, block_cache=str(tmp_path / "blocks.sqlite")
        )

        def sync() -> None:
            async def go() -> None:
                async with FluksoClient(
                    sim.url, retries=4, backoff=0.01, cache_path=tmp_path / "b.sqlite"
                ) as c:
                    await arun_sync(store, settings, now_ts=fleet.now, progress=False, client=c)

            # in its own thread: Playwright's sync API keeps an event loop on this one
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, go()).result()

        sync()
        first = store.power_bounds(home)
        assert first is not None
        with serve(make_app(store, live_poll_s=0.5)) as url:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("#login", home)
            page.fill("#password", "home-password-1")
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(f"**/i/{home}**")
            page.wait_for_selector(f"#chart[data-last-ts='{first[1]}'] canvas", timeout=15000)
            page.wait_for_selector("#live-badge:not(.d-none)", timeout=10000)
            fleet.advance(540)
            sync()
            t0 = time.monotonic()
            last = store.power_bounds(home)[1]
            assert last > first[1]
            page.wait_for_selector(f"#chart[data-last-ts='{last}'] canvas", timeout=10000)
            assert time.monotonic() - t0 < 10
            shot(page, shots, "14-home-today-after-sync")
            context.close()
