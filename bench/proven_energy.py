"""Share of the true energy vde stores when every compacted block is defective.

A simulated fleet (default 4 homes, 3 days) is served with ``--faults defects=all``
(the defects of the tmpo protocol note), synced once into a fresh SQLite file, and each
sensor's stored raw energy is compared with the meter's truth between its first and last
point. Prints one line per figure; ``--json`` for a machine-readable summary.

    .venv/bin/python bench/proven_energy.py [--homes 4] [--days 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from vde.flukso import FluksoClient
from vde.logs import configure as configure_logging
from vde.models import ConfigVersion
from vde.settings import load_settings
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.pipeline import arun_sync

DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY  # a UTC midnight (September 2026)
BIG = 2**40


def measure(homes: int, days: int) -> dict:
    fleet = Fleet.generate(homes=homes, seed=0, start_ts=T0, now_ts=T0 + days * DAY)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_store(f"sqlite:///{folder / 'vde.db'}") as store:
            store.create_schema()
            store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
            with serve_in_thread(fleet, faults=Faults(defects=frozenset({"all"}))) as server:
                settings = load_settings(
                    flukso_api_url=server.url, block_cache=str(folder / "blocks.sqlite")
                )

                async def go():
                    async with FluksoClient.from_settings(settings) as client:
                        return await arun_sync(
                            store, settings, now_ts=fleet.now, progress=False, client=client
                        )

                report = asyncio.run(go())
            config = store.load_config()
            true = stored = 0.0
            for sid in config.sensors():
                ts, _, _ = fleet.counter_truth(sid, 0, fleet.now)
                true += fleet.energy_truth(sid, int(ts[0]), int(ts[-1]))
                stored += float(store.read_raw(sid, 0, BIG).power_w.sum() * 8 / 3600)
            slots = estimated = 0
            for inst in config.installations():
                days_b = store.read_rollups(inst, DAY, 0, BIG)
                slots += int(days_b.columns["n"].sum())
                estimated += int(days_b.columns["estimated"].sum())
            summary = report.summary()
            return {
                "homes": homes,
                "days": days,
                "true_wh": round(true, 1),
                "stored_wh": round(stored, 1),
                "stored_share": stored / true,
                "raw_missing_intervals": len(store.missing()),
                "power_slots": slots,
                "estimated_slots": estimated,
                "block_issues": summary["block_issues"],
                "proven_spans": summary["proven_spans"],
            }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--homes", type=int, default=4)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    configure_logging(level="warning")
    out = measure(args.homes, args.days)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"defects=all, {out['homes']} homes, {out['days']} days")
    print(
        f"stored {out['stored_wh']} Wh of {out['true_wh']} Wh true: "
        f"{out['stored_share'] * 100:.3f} %"
    )
    print(f"estimated 8-s slots: {out['estimated_slots']} of {out['power_slots']} (installations)")
    print(f"raw_missing intervals: {out['raw_missing_intervals']}")
    print(f"defective blocks: {out['block_issues']}, proven spans: {out['proven_spans']}")


if __name__ == "__main__":
    main()
