"""End to end in real headless Chromium against a real uvicorn server: log in, read the
home's day, compare with the group, switch to the group, change day and range, zoom,
download CSVs, see live data arrive, fail to open another home, switch language, log out,
and the administrators' page. Screenshots go to test-output/screenshots/.

Live data: the sync pipeline does not exist yet, so new power rows are written through the
store (what a sync does at its end) and the page must show them within 10 s.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vde.storage import open_store
from vde.storage.base import Store
from vde.timeutil import local_day_bounds, local_day_of, now_ts

from .conftest import DAY, GAP, PASSWORDS, make_app, seed, synthetic_power, write_power
from .server import chromium, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


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
        with serve(make_app(store, live_poll_s=0.5)) as url:
            yield url, store


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
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


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def set_date(page, iso: str) -> None:
    page.fill("#date", iso)
    page.dispatch_event("#date", "change")


def test_member_journey(site, page):
    url, store = site
    page.goto(url + "/login")
    shot(page, "01-login")
    log_in(page, url, "alice")
    page.wait_for_url("**/i/CDB001**")
    wait_chart(page)

    # the home's day: 1-min curve, cards with the exact totals, a text summary
    set_date(page, DAY.isoformat())
    wait_chart(page, points=1440, resolution=60)
    assert "15 juin 2026" in page.inner_text("#range-label")
    totals = page.request.get(f"{url}/api/installations/CDB001/totals?date={DAY}").json()
    shown = page.inner_text("#val-consumed").replace("\u202f", " ").replace("\xa0", " ")
    assert shown == f"{totals['consumed_kwh']:.1f} kWh".replace(".", ",")
    assert page.inner_text("#val-self_consumption").strip().endswith("%")
    assert "consommation" in page.inner_text("#chart-summary")
    assert page.is_hidden("#nodata")
    shot(page, "02-home-day")

    # comparison with the group's per-home average on the same chart
    page.select_option("#compare", "CDBA01")
    page.wait_for_selector("#chart .u-legend :text('Moy. groupe (2 maisons) : consommation')")
    shot(page, "03-home-compare-group")

    # drag to zoom: a few hours of a day come at 8 s
    box = page.locator("#chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=8)
    page.mouse.up()
    wait_chart(page, resolution=8)
    assert page.is_visible("#unzoom")
    shot(page, "04-home-zoom-8s")

    # CSV of what is shown, and the raw 8-s data of the day
    points = int(page.get_attribute("#chart", "data-points"))
    with page.expect_download() as dl:
        page.click("#csv-shown")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows[0][:3] == ["ts", "local_time", "p_cons_w"] and len(rows) - 1 == points
    assert rows[1][1].startswith("2026-06-15T") and rows[1][1].endswith("+02:00")
    with page.expect_download() as dl:
        page.click("#csv-raw")
    raw = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
    assert len(raw) - 1 == 10800 - (GAP[1] - GAP[0]) // 8
    page.click("#unzoom")
    wait_chart(page, resolution=60)

    # the group, then week / month / year and previous / next
    page.click("nav a[href='/i/CDBA01']")
    page.wait_for_url("**/i/CDBA01**")
    assert page.inner_text("#inst-title") == "Quartier du Test"
    set_date(page, DAY.isoformat())
    wait_chart(page, points=1440)
    shot(page, "05-group-day")
    page.click("label[for=period-week]")
    wait_chart(page, resolution=900, points=672)
    assert "15 juin 2026" in page.inner_text("#range-label")
    page.click("#prev")
    page.wait_for_selector("#range-label:has-text('8 juin')")
    page.wait_for_selector("#nodata:not(.d-none)")  # a week without data says so
    shot(page, "06-group-week-nodata")
    page.click("#next")
    page.click("label[for=period-month]")
    wait_chart(page, resolution=900, points=30 * 96)
    page.click("label[for=period-year]")
    wait_chart(page, resolution=86400, points=365)
    assert page.inner_text("#range-label").strip() == "2026"
    shot(page, "07-group-year")

    # another member's home: same 404 as a home that does not exist
    r = page.goto(url + "/i/CDB002")
    assert r.status == 404 and "Page introuvable" in page.content()
    assert page.request.get(f"{url}/api/installations/CDB002/series").status == 404
    shot(page, "08-other-home-404")
    assert page.errors == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    page.errors.clear()

    # phone width, then Dutch
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url + f"/i/CDB001?period=day&date={DAY}")
    wait_chart(page, points=1440)
    shot(page, "09-phone-home-day")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + f"/i/CDB001?period=day&date={DAY}&lang=nl")
    wait_chart(page, points=1440)
    assert page.inner_text("#lbl-consumed") == "Verbruik"
    assert "juni" in page.inner_text("#range-label")
    shot(page, "10-home-day-nl")
    page.goto(url + "/login?lang=fr")

    # log out: the dashboard asks for a login again
    page.goto(url + "/i/CDB001")
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(url + "/i/CDB001")
    assert "/login" in page.url
    assert page.errors == []  # no CSP violation, no script error


def test_live_update_while_today_is_shown(site, page):
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
    shot(page, "11-home-today-live")
    assert page.errors == []


def test_admin_pages(site, page):
    url, store = site
    log_in(page, url, "root")
    page.wait_for_url("**/i/**")
    page.goto(url + "/admin")
    assert "Synchronisation des capteurs" in page.content()
    text = page.inner_text("main")
    assert "alice" in text and "CDBA01" in text and "$argon2" not in page.content()
    shot(page, "12-admin")
    assert page.errors == []


def test_live_update_after_a_real_sync(browser, tmp_path):
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
            shot(page, "13-home-today-after-sync")
            context.close()
