"""Flukso-compatible API simulator: a deterministic fleet served over real HTTP.

    from vde.simulator import Fleet, Faults, serve_in_thread, SimSensor

    fleet = Fleet.generate(homes=10, seed=1, now_ts=1_790_000_000)
    with serve_in_thread(fleet, faults=Faults(burst500=0.1)) as server:
        ...  # point the client at server.url

Modules: ``profiles`` (household and PV physics, signs), ``fleet`` (homes, sensors,
groups, workbook rows, ground truth), ``meter`` (counters and irregular points, meter
faults), ``blocks`` (compaction rule, block encoding, defects), ``faults`` (what goes
wrong), ``server`` (the HTTP app).
"""

from vde.simulator.faults import ClockJump, Faults, Offline, Reset
from vde.simulator.fleet import Fleet, SimSensor
from vde.simulator.server import SimServer, serve_in_thread

__all__ = [
    "ClockJump",
    "Faults",
    "Fleet",
    "Offline",
    "Reset",
    "SimSensor",
    "SimServer",
    "serve_in_thread",
]
