"""Runs every benchmark of vde and prints one table per benchmark (``make bench``).

Each benchmark module exposes ``main() -> list[dict]``: it measures vde and a reference
(the approach it replaces, or the floor) in the same run and prints its own table with
the ratios. Results are also written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["decode", "storage", "sync", "web", "sharing", "export", "scale"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str]) -> int:
    chosen = argv or BENCHES
    results: dict[str, object] = {}
    failed = []
    for name in chosen:
        print(f"\n=== bench/{name}.py ===", flush=True)
        t0 = time.perf_counter()
        try:
            rows = _load(name).main()
        except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others
            print(f"bench {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
            continue
        results[name] = rows
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    if failed:
        print(f"\nfailed benchmarks: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
