"""Dashboard benchmark: API latency over a real uvicorn server, and time to first chart.

Figures, per backend (SQLite, Cassandra):

- home-day: ``/series?period=day`` of a home with 8-s data (1-min curve + exact totals);
- home-day raw: ``/raw.csv?day=`` (the day's 10,800 8-s rows as CSV);
- group-week: ``/series?period=week`` (15-min rollups + totals);
- group-year: ``/series?period=year`` (day rollups + totals);
- energy home-day / group-year: ``/energy`` (kWh bars, totals, previous period, last year);
  the group's own day buckets count its 12 member homes (a bar shows when one home has
  data), so a group-year reads the group's day buckets over two years, once.

Each is measured against the bare store read of the same curve (the floor: what the
database costs), in the same run; ``ratio`` = API p50 / store p50. Time to first chart:
headless Chromium opens the day page (logged in) until the chart is drawn (the page's
``vde-chart`` performance mark), against DOMContentLoaded of the same load.

Cassandra: ``VDE_TEST_CASSANDRA=host:port`` uses a running node, otherwise one is started
(and stopped) with scripts/cassandra_node.py.

    .venv/bin/python bench/web.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from vde.accounts import set_password  # noqa: E402
from vde.models import ConfigVersion, PowerSeries, RollupBatch, SensorRow  # noqa: E402
from vde.processing.rollups import compute_rollups  # noqa: E402
from vde.settings import Settings  # noqa: E402
from vde.storage import open_store  # noqa: E402
from vde.timeutil import local_day_bounds  # noqa: E402
from vde.web.app import create_app  # noqa: E402
from vde.web.series import period_bounds  # noqa: E402
from web.server import chromium, serve  # noqa: E402

DAY = date(2026, 6, 17)  # a Wednesday
HOME, GROUP, LOGIN, PASSWORD = "H001", "G001", "bench", "bench-password-1"
MEMBERS = tuple(f"M{i:03d}" for i in range(1, 13))
TARGETS_MS = {
    ("sqlite", "home-day"): 50,
    ("sqlite", "group-year"): 300,
    ("sqlite", "energy group-year"): 50,
}
FIRST_CHART_TARGET_MS = 1000


def _power(start: int, end: int, scale: float, homes: int = 0) -> PowerSeries:
    """Synthetic 8-s power [W]; ``homes`` > 0: a group's rows counting that many homes."""
    ts = np.arange(start, end, 8, dtype=np.int64)
    hour = (ts % 86400) / 3600.0
    rng = np.random.default_rng(int(start))
    cons = scale * (400 + 300 * rng.random(len(ts)))
    prod = -scale * 3000 * np.clip(np.sin(np.pi * (hour - 4) / 14), 0, None)
    out = PowerSeries(ts, cons, prod, cons + prod)
    if homes:
        out.homes = np.full(len(ts), homes, np.int64)
        out.p_import = np.maximum(out.p_tot, 0.0)
    return out


def seed(store, quick: bool) -> None:
    """A home with a week of 8-s power; a group with a week of 8-s power and a year of
    15-min, hour and day rollups (the year view needs no more)."""
    store.replace_access([(LOGIN, HOME), (LOGIN, GROUP)])
    store.replace_captions({GROUP: "Bench group"})
    set_password(store, LOGIN, PASSWORD)
    w0, w1 = period_bounds("week", DAY)
    for inst, scale, homes in ((HOME, 1.0, 0), (GROUP, 40.0, len(MEMBERS))):
        p = _power(w0, w1, scale, homes)
        store.write_power(inst, p, 1)
        for res in (60, 900, 3600, 86400):
            store.write_rollups(inst, compute_rollups(p, res))
    y0, y1 = period_bounds("year", DAY)
    days = 30 if quick else 365
    d = date(DAY.year, 1, 1)
    chunk = 30
    while d < date(DAY.year, 1, 1) + timedelta(days=days):
        a = local_day_bounds(d)[0]
        b = min(local_day_bounds(d + timedelta(days=chunk))[0], y1)
        # the week already has everything: leave it out of the chunk
        for a_, b_ in ((a, min(b, w0)), (max(a, w1), b)) if a < w1 and b > w0 else ((a, b),):
            if a_ < b_:
                p = _power(a_, b_, 40.0, len(MEMBERS))
                for res in (900, 3600, 86400):
                    store.write_rollups(GROUP, compute_rollups(p, res))
        d += timedelta(days=chunk)
    _seed_members(store, y0, y1)


def _seed_members(store, y0: int, y1: int) -> None:
    """The group's 12 member homes (configuration rows), each with its share of the group's
    hour and day rollups (scaled copies: the bars only read rollups)."""
    rows = []
    for m in MEMBERS:
        for inst in (m, GROUP):
            rows.append(SensorRow(inst, f"s{m}", "t" * 32, "FL01", "Mains", 1, 0, 1, 0, 0))
    store.save_config_version(ConfigVersion(version_id=1, rows=tuple(rows)))
    for res in (3600, 86400):
        b = store.read_rollups(GROUP, res, y0, y1)
        share = {
            f: (
                v
                if f in ("n", "estimated")
                else 0 * v
                if f.startswith("homes")
                else v / len(MEMBERS)
            )
            for f, v in b.columns.items()
        }
        for m in MEMBERS:
            store.write_rollups(m, RollupBatch(resolution_s=res, ts=b.ts, columns=share))


def _login(client: httpx.Client) -> None:
    page = client.get("/login").text
    marker = 'name="csrf-token" content="'
    i = page.index(marker) + len(marker)
    token = page[i : page.index('"', i)]
    r = client.post("/login", data={"login": LOGIN, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.status_code


def _percentiles(fn, n: int) -> tuple[float, float]:
    """(p50, p95) wall time of ``fn()`` [ms], after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def _cases(store) -> dict:
    d0, d1 = local_day_bounds(DAY)
    w0, w1 = period_bounds("week", DAY)
    y0, y1 = period_bounds("year", DAY)
    return {
        "home-day": (
            f"/api/installations/{HOME}/series?period=day&date={DAY}",
            lambda: store.read_rollups(HOME, 60, d0, d1),
        ),
        "home-day raw": (
            f"/api/installations/{HOME}/raw.csv?day={DAY}",
            lambda: store.read_power(HOME, d0, d1),
        ),
        "group-week": (
            f"/api/installations/{GROUP}/series?period=week&date={DAY}",
            lambda: store.read_rollups(GROUP, 900, w0, w1),
        ),
        "group-year": (
            f"/api/installations/{GROUP}/series?period=year&date={DAY}",
            lambda: store.read_rollups(GROUP, 86400, y0, y1),
        ),
        "energy home-day": (
            f"/api/installations/{HOME}/energy?period=day&date={DAY}",
            lambda: store.read_rollups(HOME, 3600, d0, d1),
        ),
        "energy group-year": (
            f"/api/installations/{GROUP}/energy?period=year&date={DAY}",
            lambda: store.read_rollups(GROUP, 86400, y0, y1),
        ),
    }


def first_chart(url: str, runs: int) -> tuple[float, float]:
    """Median (first chart, DOMContentLoaded) [ms] of the home's day page (24 kWh bars) in
    Chromium."""
    charts, dcls = [], []
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(url + "/login")
        page.fill("#login", LOGIN)
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url("**/i/**")
        for i in range(runs + 1):
            page.goto(f"{url}/i/{HOME}?period=day&date={DAY}")
            page.wait_for_selector("#chart[data-bars='24'] canvas")
            mark = page.evaluate("() => performance.getEntriesByName('vde-chart')[0].startTime")
            dcl = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            )
            if i:  # the first load fills the browser's cache
                charts.append(mark)
                dcls.append(dcl)
        ctx.close()
    return statistics.median(charts), statistics.median(dcls)


def bench_backend(backend: str, url: str, quick: bool, browser: bool) -> list[dict]:
    n = 10 if quick else 40
    rows = []
    with open_store(url) as store:
        store.create_schema()
        t = time.perf_counter()
        seed(store, quick)
        seed_s = time.perf_counter() - t
        app = create_app(store, Settings(database=url))
        with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            _login(client)
            for name, (path, floor) in _cases(store).items():
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code)
                p50, p95 = _percentiles(lambda path=path: client.get(path), n)
                f50, _ = _percentiles(floor, n)
                target = TARGETS_MS.get((backend, name))
                rows.append(
                    {
                        "bench": "web",
                        "backend": backend,
                        "figure": name,
                        "p50_ms": round(p50, 1),
                        "p95_ms": round(p95, 1),
                        "store_p50_ms": round(f50, 1),
                        "ratio": round(p50 / f50, 1) if f50 else None,
                        "bytes": len(r.content),
                        "target_ms": target,
                        "ok": None if target is None else p50 <= target,
                        "seed_s": round(seed_s, 1),
                    }
                )
            if browser:
                chart, dcl = first_chart(base, 3 if quick else 7)
                rows.append(
                    {
                        "bench": "web",
                        "backend": backend,
                        "figure": "first chart (Chromium)",
                        "p50_ms": round(chart, 1),
                        "p95_ms": None,
                        "store_p50_ms": None,
                        "dom_ready_ms": round(dcl, 1),
                        "ratio": round(chart / dcl, 1) if dcl else None,
                        "target_ms": FIRST_CHART_TARGET_MS,
                        "ok": chart <= FIRST_CHART_TARGET_MS,
                    }
                )
    return rows


def _cassandra_url() -> tuple[str, object | None]:
    given = os.environ.get("VDE_TEST_CASSANDRA")
    if given:
        return f"cassandra://{given}/vde_bench_web", None
    sys.path.insert(0, str(ROOT / "scripts"))
    import cassandra_node

    node = cassandra_node.start(tempfile.mkdtemp(prefix="vde-bench-web-"))
    return f"cassandra://{node.host}:{node.port}/vde_bench_web", node


def main(quick: bool = False) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_backend("sqlite", f"sqlite:///{Path(tmp) / 'web.db'}", quick, browser=True)
    _print(rows)  # shown even if the Cassandra part fails
    url, node = _cassandra_url()
    try:
        with open_store(url) as s:
            s.drop_keyspace()
        try:
            cass = bench_backend("cassandra", url, quick, browser=False)
            rows += cass
            _print(cass)
        finally:
            with open_store(url) as s:
                s.drop_keyspace()
    finally:
        if node is not None:
            node.stop()
    return rows


def _print(rows: list[dict]) -> None:
    print(
        f"{'backend':<10} {'figure':<24} {'p50 ms':>8} {'p95 ms':>8} {'store ms':>9} "
        f"{'ratio':>6} {'target':>7} {'ok':>4}"
    )
    for r in rows:
        store_ms = (
            r.get("store_p50_ms") if r.get("store_p50_ms") is not None else r.get("dom_ready_ms")
        )

        def cell(v, w):
            return f"{'-' if v is None else v:>{w}}"

        print(
            f"{r['backend']:<10} {r['figure']:<24} {cell(r['p50_ms'], 8)} {cell(r['p95_ms'], 8)} "
            f"{cell(store_ms, 9)} {cell(r['ratio'], 6)} {cell(r['target_ms'], 7)} "
            f"{cell({True: 'yes', False: 'NO', None: None}[r['ok']], 4)}"
        )
    print("ratio: API p50 / bare store read p50 (first chart: / DOMContentLoaded)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
