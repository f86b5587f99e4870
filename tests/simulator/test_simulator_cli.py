"""``vde simulator``: starts, serves the fleet of its seed, writes the workbook, stops on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from simhelpers import HTTP

from vde.processing.workbook import read_workbook
from vde.simulator import Fleet

VDE = str(Path(sys.executable).with_name("vde"))


def test_cli_serves_writes_the_workbook_and_stops(tmp_path):
    book = tmp_path / "Configuration.xlsx"
    proc = subprocess.Popen(
        [VDE, "simulator", "--homes", "3", "--seed", "5", "--port", "0", "--workbook", str(book)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        url = re.search(r"http://127\.0\.0\.1:\d+", "".join(lines))
        assert url, lines
        fleet = Fleet.generate(homes=3, seed=5)  # same seed: same ids and tokens
        s = fleet.sensors[0]
        asked = time.time()
        r = HTTP.get(f"{url.group(0)}/sensor/{s.sensor_id}/tmpo/sync", headers={"X-Token": s.token})
        assert r.status_code == 200 and r.json()
        blocks = r.json()
        assert {b["lvl"] for b in blocks} >= {12, 16, 20}  # 30 days of history
        # up to the last whole 256-s block (no level-8 block in the first 256 s after a
        # 4096-s boundary: the level-12 block ends there)
        assert max(b["bid"] + 2 ** b["lvl"] for b in blocks) > asked - 2 * 256
        parsed = read_workbook(book)
        assert parsed.ok, parsed.errors

        # Same rows, StartDate aside (the fleet of the test starts a few seconds later).
        def key(x):
            return (
                x.installation_id,
                x.sensor_id,
                x.token,
                x.flm_id,
                x.function,
                x.net,
                x.prod,
                x.cons,
                x.ve,
            )

        assert sorted(map(key, parsed.rows)) == sorted(map(key, fleet.config_rows()))
        assert all(abs(x.start_ts - fleet.start_ts) <= 86400 for x in parsed.rows)
        _check_real_quirks(book)
        assert set(parsed.access) == set(fleet.access_rows())
        assert parsed.captions == fleet.captions()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert s.token not in out + err  # secrets never printed


def test_cli_rejects_a_bad_fault_spec():
    proc = subprocess.run(
        [VDE, "simulator", "--homes", "1", "--port", "0", "--faults", "bogus=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "bogus" in proc.stderr


def _check_real_quirks(book: Path) -> None:
    """Blank zero signs, VE as text '1'/'-1', a datetime StartDate: as the real workbook."""
    from datetime import datetime

    import openpyxl

    ws = openpyxl.load_workbook(book)["Export_InstallationSensors"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in ws.iter_rows(min_row=2)]
    assert all(isinstance(r["StartDate"], datetime) for r in rows)
    assert {r["Network"] for r in rows} == {1, -1, None}
    assert {r["VE"] for r in rows} <= {None, "1", "-1"}
    assert all(r["Prod"] in (None, -1) for r in rows)
