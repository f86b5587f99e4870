"""Export benchmark: one month of 60 installations at 8 s (19.4 million rows) to Parquet
and to CSV, on SQLite: rows/s of each and the file sizes.

References measured in the same run:

- floor: reading the same rows from the store, nothing written (what any export pays),
  measured after the exports so that it reads with the same warm page cache;
- CSV the dashboard's way: the per-row Python formatting of ``vde.web.exports`` (``cells``,
  ``local_iso``, one ``join`` per row), the straightforward way to write these files,
  measured on a sample of the installations.

    .venv/bin/python bench/export.py [--quick]     (--quick: 6 installations)
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vde.export.run import export_folder  # noqa: E402
from vde.export.spec import file_periods  # noqa: E402
from vde.models import PowerSeries  # noqa: E402
from vde.storage import open_store  # noqa: E402
from vde.timeutil import local_day_bounds  # noqa: E402
from vde.web.exports import cells, local_iso  # noqa: E402

START = local_day_bounds(date(2026, 6, 1))[0]
END = local_day_bounds(date(2026, 7, 1))[0]
SAMPLE = 3  # installations of the dashboard-style CSV reference


def fleet(n: int) -> list[str]:
    return [f"CDB{i:03d}" for i in range(1, n + 1)]


def write(store, ids: list[str]) -> int:
    """A month of 8-s power per installation, with a 2-h gap and some estimated slots."""
    rng = np.random.default_rng(7)
    ts = np.arange(START, END, 8, dtype=np.int64)
    hour = (ts % 86400) / 3600
    sun = np.clip(np.sin((hour - 4) / 16 * np.pi), 0, None)
    rows = 0
    for i, inst in enumerate(ids):
        keep = (ts < START + 86400 * (i % 28) + 3600) | (ts >= START + 86400 * (i % 28) + 10800)
        t = ts[keep]
        cons = np.round(rng.gamma(2.0, 200.0, len(t)), 1)
        prod = -np.round(sun[keep] * (2000 + 50 * i) * (i % 2), 1)
        est = (t >= START + 86400 * 3) & (t < START + 86400 * 3 + 1800)
        store.write_power(inst, PowerSeries(t, cons, prod, cons + prod, est), 1)
        rows += len(t)
    return rows


def read_floor(store, ids: list[str]) -> int:
    n = 0
    for inst in ids:
        for p in file_periods(START, END, 8):
            n += len(store.read_power_with_version(inst, p.start, p.end)[0])
    return n


def dashboard_csv(store, ids: list[str], folder: Path) -> tuple[int, int]:
    """Per-row Python CSV as the dashboard's raw.csv writes it, one file per day."""
    rows = size = 0
    folder.mkdir()
    for inst in ids:
        for p in file_periods(START, END, 8):
            s = store.read_power(inst, p.start, p.end)
            cols = [
                s.ts.tolist(),
                local_iso(s.ts),
                *(cells(v) for v in (s.p_cons, s.p_prod, s.p_tot)),
            ]
            body = "ts,local_time,p_cons_w,p_prod_w,p_tot_w\n" + "".join(
                ",".join(map(str, r)) + "\n" for r in zip(*cols, strict=True)
            )
            path = folder / f"{inst}_{p.label}.csv"
            path.write_text(body)
            rows += len(s)
            size += path.stat().st_size
    return rows, size


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    ids = fleet(6 if "--quick" in argv else 60)
    out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vde-bench-export-") as tmp:
        tmpd = Path(tmp)
        store = open_store(f"sqlite:///{tmpd / 'vde.db'}")
        store.create_schema()
        total, w = timed(write, store, ids)
        print(f"{len(ids)} installations x 30 days at 8 s: {total:,} rows written in {w:.0f} s")
        results = {}
        for fmt in ("parquet", "csv"):
            res, t = timed(
                lambda f=fmt: export_folder(
                    store, tmpd / f, installations=ids, since=START, until=END, fmt=f
                )
            )
            assert res.rows == total, (fmt, res.rows, total)
            results[fmt] = (t, sum(f.bytes for f in res.files), len(res.files))
        # after the exports: the floor reads with the same warm page cache they had
        n_floor, t_floor = timed(read_floor, store, ids)
        (n_ref, ref_bytes), t_ref = timed(dashboard_csv, store, ids[:SAMPLE], tmpd / "ref")
        store.close()
    rows_fmt = [
        ("read only (floor), same rows", total, t_floor, None),
        ("vde export --format parquet", total, results["parquet"][0], results["parquet"][1]),
        ("vde export --format csv", total, results["csv"][0], results["csv"][1]),
        (f"reference: dashboard-style CSV ({SAMPLE} inst.)", n_ref, t_ref, ref_bytes),
    ]
    print(f"{'measure':<48} {'rows':>12} {'s':>8} {'rows/s':>11} {'MB':>9} {'B/row':>7}")
    for what, n, t, size in rows_fmt:
        mb = f"{size / 1e6:9.1f}" if size else f"{'-':>9}"
        per = f"{size / n:7.1f}" if size else f"{'-':>7}"
        print(f"{what:<48} {n:>12,} {t:>8.1f} {n / t:>11,.0f} {mb} {per}")
        out.append({"what": what, "rows": n, "s": t, "rows_per_s": n / t, "bytes": size})
    csv_rate = total / results["csv"][0]
    print(
        f"files: {results['parquet'][2]} per format; CSV {csv_rate / (n_ref / t_ref):.1f}x "
        f"the dashboard-style writer; Parquet {results['csv'][1] / results['parquet'][1]:.1f}x "
        "smaller than CSV"
    )
    return out


if __name__ == "__main__":
    main()
