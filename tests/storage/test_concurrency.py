"""A writer and readers at the same time: separate processes on one database, and threads
sharing one Store (the web server calls the store from a thread pool)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np

T0 = 1_774_569_600
CHUNKS = 40
CHUNK = 2000


def _writer(url: str, ready) -> None:
    from vde.storage import open_store

    with open_store(url) as s:
        ready.wait(60)
        for k in range(CHUNKS):
            ts = T0 + (np.arange(CHUNK, dtype=np.int64) + k * CHUNK) * 8
            s.write_raw("w", ts, np.full(CHUNK, float(k + 1)), 1)


def _reader(url: str, ready, out) -> None:
    from vde.storage import open_store

    counts = []
    with open_store(url) as s:
        ready.wait(60)
        while True:
            r = s.read_raw("w", T0, T0 + CHUNKS * CHUNK * 8)
            # every read is consistent: sorted, unique, and never a value that was not written
            assert np.all(np.diff(r.ts) > 0)
            assert np.all(r.power_w == (r.ts - T0) // 8 // CHUNK + 1)
            counts.append(len(r))
            if len(r) == CHUNKS * CHUNK:
                break
    out.put(counts)


def test_writer_process_and_reader_process(store_url):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(store_url, ready)),
        ctx.Process(target=_reader, args=(store_url, ready, out)),
    ]
    for p in procs:
        p.start()
    ready.set()
    counts = out.get(timeout=300)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counts == sorted(counts), "a reader never sees rows disappear"
    assert counts[-1] == CHUNKS * CHUNK


def test_threads_share_one_store(store):
    def work(k: int) -> int:
        ts = T0 + (np.arange(500, dtype=np.int64) + k * 500) * 8
        store.write_raw(f"t{k % 4}", ts, np.full(500, float(k)), 1)
        store.set_meta(f"k{k}", str(k))
        return len(store.read_raw(f"t{k % 4}", T0, T0 + 10**7))

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, range(24)))
    assert min(got) >= 500
    assert sorted(store.raw_sensors()) == ["t0", "t1", "t2", "t3"]
    assert sum(len(store.read_raw(f"t{i}", T0, T0 + 10**7)) for i in range(4)) == 24 * 500
    assert all(store.get_meta(f"k{k}") == str(k) for k in range(24))
