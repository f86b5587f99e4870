"""Helpers of the sync tests: a simulated fleet served over HTTP, synced into a store."""

from __future__ import annotations

import asyncio
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vde.flukso import FluksoClient
from vde.models import ROLLUP_RESOLUTIONS, ConfigVersion
from vde.settings import Settings, load_settings
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store
from vde.storage.base import Store
from vde.sync.pipeline import arun_sync
from vde.sync.report import SyncReport

BIG = 2**40


def cli_env(tmp: Path, db_url: str, sim_url: str, **extra: str) -> dict[str, str]:
    """Environment of a `vde` subprocess on db_url and the simulator, no outside VDE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDE_")}
    # an empty settings file next to tmp (tests create tmp later); a missing one is an error
    empty = tmp.parent / f"{tmp.name}.empty.toml"
    empty.write_text("")
    env.update(
        VDE_CONFIG=str(empty),
        VDE_DATABASE=db_url,
        VDE_FLUKSO_API_URL=sim_url,
        VDE_BLOCK_CACHE=str(tmp / "blocks.sqlite"),
        VDE_FLUKSO_RETRIES="1",
        VDE_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


def prepare_store(db_url: str, fleet: Fleet) -> None:
    """Create the schema of db_url and import the fleet's configuration once."""
    with open_store(db_url) as s:
        s.create_schema()
        if s.load_config() is None:
            s.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))


class SimEnv:
    """A fleet, its simulator and a store with the fleet's configuration imported."""

    def __init__(
        self, store: Store, fleet: Fleet, url: str, tmp: Path, server=None, **settings
    ) -> None:
        self.store = store
        self.server = server  # the running simulator (its request stats)
        self.fleet = fleet
        self.url = url
        self.cache = tmp / "blocks.sqlite"
        self.settings: Settings = load_settings(
            database=getattr(store, "url", "sqlite:///unused.db"),
            flukso_api_url=url,
            block_cache=str(self.cache),
            **settings,
        )
        if store.load_config() is None:
            store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
        self.config = store.load_config()

    def sync(self, **kw) -> SyncReport:
        """One sync at the fleet's now, with a fast-retrying client."""

        async def go() -> SyncReport:
            async with FluksoClient(
                self.url, retries=8, backoff=0.01, cache_path=self.cache, concurrency=8
            ) as client:
                return await arun_sync(
                    self.store,
                    self.settings,
                    now_ts=self.fleet.now,
                    progress=False,
                    client=client,
                    **kw,
                )

        return asyncio.run(go())


@contextmanager
def sim_env(store: Store, tmp: Path, fleet: Fleet, faults: Faults | None = None, **settings):
    with serve_in_thread(fleet, faults=faults) as server:
        yield SimEnv(store, fleet, server.url, tmp, server, **settings)


def snapshot(store: Store, config: ConfigVersion) -> dict:
    """Every row sync writes, as plain lists (for equality between runs)."""
    out: dict = {}
    for sid in sorted(config.sensors()):
        raw = store.read_raw(sid, 0, BIG)
        out[f"raw:{sid}"] = (raw.ts.tolist(), np.round(raw.power_w, 6).tolist())
        out[f"missing:{sid}"] = [(m.start_ts, m.end_ts) for m in store.missing(sid)]
    for inst in config.installations():
        p = store.read_power(inst, 0, BIG)
        out[f"power:{inst}"] = (
            p.ts.tolist(),
            np.round(p.p_tot, 6).tolist(),
            np.round(p.p_prod, 6).tolist(),
        )
        for res in ROLLUP_RESOLUTIONS:
            b = store.read_rollups(inst, res, 0, BIG)
            out[f"rollup:{inst}:{res}"] = (
                b.ts.tolist(),
                b.columns["n"].tolist(),
                np.round(b.columns["e_tot_wh"], 6).tolist(),
            )
    return out


def runs(ts: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous 8-s runs [start, end) of sorted grid timestamps."""
    if len(ts) == 0:
        return []
    cut = np.flatnonzero(np.diff(ts) != 8)
    starts = np.concatenate(([0], cut + 1))
    ends = np.concatenate((cut, [len(ts) - 1]))
    return [(int(ts[a]), int(ts[b]) + 8) for a, b in zip(starts, ends, strict=True)]


def raw_energy(store: Store, sid: str, a: int, b: int) -> float:
    raw = store.read_raw(sid, a, b)
    return float(raw.power_w.sum() * 8 / 3600)
