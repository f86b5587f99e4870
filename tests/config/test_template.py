"""The example workbook follows the documented wiring: P_cons = load, P_prod = -PV output."""

import numpy as np

from vde.models import RawSeries
from vde.processing.installation import installation_power
from vde.processing.template import example_config
from vde.processing.workbook import read_workbook, write_workbook


def test_template_wiring_gives_physical_power(tmp_path):
    rows, access, captions = example_config()
    path = tmp_path / "t.xlsx"
    write_workbook(path, rows, access, captions)
    parsed = read_workbook(path)
    assert parsed.ok and not parsed.warnings
    ts = np.arange(0, 86400, 8, dtype=np.int64) + 1_780_000_000
    load = 300 + 200 * np.sin(np.linspace(0, 6, len(ts))) ** 2  # [W]
    pv = np.clip(2500 * np.sin(np.linspace(-1, 4, len(ts))), 0, None)  # [W]
    flows = {
        "Mains": np.maximum(load - pv, 0),
        "Mains-": np.maximum(pv - load, 0),
        "PV": pv,
        "PV-": np.zeros_like(pv),
    }
    home = [r for r in parsed.rows if r.installation_id == "CDB001"]
    raw = {r.sensor_id: RawSeries(ts, flows[r.function]) for r in home}
    # the window is the simulated day: every sensor started before it (a window from the
    # earliest StartDate, five years back, gives the same rows in seconds instead of 0.1 s)
    assert max(r.start_ts for r in home) <= ts[0]
    p = installation_power(home, raw, int(ts[0]), int(ts[-1]) + 8)
    assert len(p) == len(ts)
    np.testing.assert_allclose(p.p_cons, load)
    np.testing.assert_allclose(p.p_prod, -pv)
    np.testing.assert_allclose(p.p_tot, load - pv)
