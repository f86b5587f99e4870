"""The simulated fleet: homes, their Fluksometers and sensors, groups and access.

``Fleet.generate(homes=N, seed=S)`` is deterministic for a seed. Physics lives in
``profiles`` (see its docstring for the wiring and signs), the meters (counters, irregular
points, resets, clock jumps, late uploads) in ``meter``, block layout in ``blocks``.
Time: ``now_ts=None`` follows the wall clock (a live fleet keeps growing); an int freezes
it (tests) and may be changed at any time (``fleet.now_ts = ...`` or ``fleet.advance``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from vde.models import SensorRow
from vde.simulator.profiles import BLOCK_S, HomeSpec, draw_home, hash_u01

DEFAULT_HISTORY_S = 30 * 86400


@dataclass(frozen=True)
class SimSensor:
    """One simulated sensor and the signs it should have in the workbook."""

    sensor_id: str  # 32 hex
    token: str = field(repr=False)  # 32 hex, secret
    flm_id: str = ""
    home_id: str = ""
    function: str = ""  # "Mains", "Mains-", "PV", "PV-", "Phase L1", "Phase L1-", "EV", "EV-"
    kind: str = "mains"  # "mains" | "pv" | "ev"
    net: int = 0
    prod: int = 0
    cons: int = 0
    ve: int = 0
    flow: str = ""  # what it counts: "import:i", "export:i", "pv", "standby", "ev", "none"
    meter: str = "clamp"  # "clamp" (points every 1-30 s) | "pulse" (one point per pulse)
    pulse_wh: float = 0.0  # pulse size for pulse meters [Wh]
    port: int = 1
    index: int = 0  # position in fleet.sensors
    home_index: int = 0
    init_counter_wh: float = 0.0  # counter value when the meter started [Wh]


def _hex(seed: int, *parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).hexdigest()[:32]


def _home_sensors(
    seed: int, home: HomeSpec
) -> list[tuple[str, str, tuple[int, int, int, int], str]]:
    """(function, kind, (net, prod, cons, ve), flow) of a home's sensors."""
    out: list[tuple[str, str, tuple[int, int, int, int], str]] = []
    has_pv = home.pv_kwp > 0
    for i in range(home.phases):
        name = "Mains" if home.phases == 1 else f"Phase L{i + 1}"
        out.append((name, "mains", (1, 0, 1, 0), f"import:{i}"))
        if has_pv:
            out.append((name + "-", "mains", (-1, 0, -1, 0), f"export:{i}"))
    if has_pv:
        out.append(("PV", "pv", (0, -1, 1, 0), "pv"))
        if home.pv_twin:
            out.append(("PV-", "pv", (0, 0, 0, 0), "standby"))
    if home.has_ev:
        out.append(("EV", "ev", (0, 0, 0, 1), "ev"))
        out.append(("EV-", "ev", (0, 0, 0, -1), "none"))
    return out


def default_groups(home_ids: list[str]) -> dict[str, list[str]]:
    """Two neighbourhoods (40 % and 35 % of the homes) and the community-wide group."""
    n = len(home_ids)
    a = max(1, round(n * 0.4))
    b = max(a, round(n * 0.75))
    groups = {"CDBA01": home_ids[:a], "CDBA02": home_ids[a:b], "CDBZ01": list(home_ids)}
    return {g: members for g, members in groups.items() if members}


class Fleet:
    """A deterministic simulated fleet. Build it with :meth:`generate`."""

    def __init__(
        self,
        *,
        seed: int,
        homes: list[HomeSpec],
        sensors: list[SimSensor],
        groups: dict[str, list[str]],
        start_ts: int,
        now_ts: int | None,
        unequipped: list[str],
    ) -> None:
        from vde.simulator.meter import Meter

        self.seed = seed
        self.home_specs = homes
        self.homes = [h.home_id for h in homes]
        self.sensors = sensors
        self.groups = groups
        self.start_ts = start_ts
        self.now_ts = now_ts
        self.unequipped = unequipped
        self._by_id = {s.sensor_id: s for s in sensors}
        # by home: config_rows of a 5,000-home fleet would otherwise scan every sensor
        # for every home of every installation (quadratic: minutes)
        self._by_home: dict[str, list[SimSensor]] = {}
        for s in sensors:
            self._by_home.setdefault(s.home_id, []).append(s)
        self.meter = Meter(self)

    # --- construction ----------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        homes: int = 57,
        seed: int = 0,
        start_ts: int | None = None,
        now_ts: int | None = None,
        groups: dict[str, list[str]] | None = None,
    ) -> Fleet:
        """Draw a fleet of ``homes`` equipped homes from ``seed``.

        ``start_ts``: when the meters started [UTC epoch s] (default 30 days before now;
        floored to a 256-s boundary). ``now_ts``: None follows the wall clock, an int
        freezes time. ``groups``: group id -> member home ids (default: two
        neighbourhoods CDBA01/CDBA02 and the community-wide CDBZ01).
        """
        if homes < 1:
            raise ValueError("a fleet needs at least one home")
        ref_now = int(time.time()) if now_ts is None else int(now_ts)
        start = ref_now - DEFAULT_HISTORY_S if start_ts is None else int(start_ts)
        start -= start % BLOCK_S
        specs = [draw_home(seed, i, f"CDB{i + 1:03d}") for i in range(homes)]
        # Two homes (never pulse homes) charge an electric vehicle.
        ev_candidates = [h.index for h in specs if not h.pulse]
        order = np.argsort(hash_u01(seed, 50_000, np.asarray(ev_candidates, dtype=np.int64)))
        for j in order[: min(2, len(ev_candidates))]:
            specs[ev_candidates[j]] = dataclasses.replace(specs[ev_candidates[j]], has_ev=True)
        sensors: list[SimSensor] = []
        for home in specs:
            flm = f"FL0800{(seed * 97 + 3 * home.index + 101) % 10000:04d}"
            for port, (function, kind, signs, flow) in enumerate(_home_sensors(seed, home), 1):
                pulse = home.pulse and flow.startswith("import")
                u = float(hash_u01(seed, 60_000 + len(sensors))[0])
                sensors.append(
                    SimSensor(
                        sensor_id=_hex(seed, home.home_id, function, "sensor"),
                        token=_hex(seed, home.home_id, function, "token"),
                        flm_id=flm,
                        home_id=home.home_id,
                        function=function,
                        kind=kind,
                        net=signs[0],
                        prod=signs[1],
                        cons=signs[2],
                        ve=signs[3],
                        flow=flow,
                        meter="pulse" if pulse else "clamp",
                        pulse_wh=1.0 if pulse else 0.0,
                        port=port,
                        index=len(sensors),
                        home_index=home.index,
                        init_counter_wh=float(int(u * 3_000_000)),
                    )
                )
        home_ids = [h.home_id for h in specs]
        if groups is None:
            groups = default_groups(home_ids)
        unknown = {m for members in groups.values() for m in members} - set(home_ids)
        if unknown:
            raise ValueError(f"groups name unknown homes: {sorted(unknown)}")
        unequipped = [f"CDB{homes + 1 + i:03d}" for i in range(max(1, homes // 4))]
        return cls(
            seed=seed,
            homes=specs,
            sensors=sensors,
            groups={g: list(m) for g, m in groups.items()},
            start_ts=start,
            now_ts=now_ts,
            unequipped=unequipped,
        )

    # --- clock -----------------------------------------------------------------------

    @property
    def now(self) -> int:
        """Current simulated time [UTC epoch s]: frozen ``now_ts`` or the wall clock."""
        return int(time.time()) if self.now_ts is None else int(self.now_ts)

    def advance(self, seconds: int) -> int:
        """Move a frozen clock forward; returns the new now."""
        if self.now_ts is None:
            raise ValueError("this fleet follows the wall clock; it cannot be advanced")
        self.now_ts = int(self.now_ts) + int(seconds)
        return self.now_ts

    # --- lookup ----------------------------------------------------------------------

    def sensor(self, sensor_id: str) -> SimSensor:
        """The sensor with that id (KeyError if unknown)."""
        return self._by_id[sensor_id]

    def has_sensor(self, sensor_id: str) -> bool:
        return sensor_id in self._by_id

    def sensors_of(self, home_id: str) -> list[SimSensor]:
        return list(self._by_home.get(home_id, ()))

    # --- configuration ---------------------------------------------------------------

    def config_rows(self) -> list[SensorRow]:
        """Workbook rows: every home's sensors, then every group's (union of its homes).

        The signs are the sensors' own, changed by the wiring faults installed with
        ``apply_faults`` (``standby``, ``pvinnetwork``, ``reversed``: see ``faults``).
        """
        signs = self.wiring_signs()
        rows: list[SensorRow] = []
        installations = [(h, [h]) for h in self.homes] + list(self.groups.items())
        for inst, members in installations:
            for home in members:
                for s in self.sensors_of(home):
                    net, prod, cons = signs[s.sensor_id]
                    rows.append(
                        SensorRow(
                            installation_id=inst,
                            sensor_id=s.sensor_id,
                            token=s.token,
                            flm_id=s.flm_id,
                            function=s.function,
                            net=net,
                            prod=prod,
                            cons=cons,
                            ve=s.ve,
                            start_ts=self.start_ts,
                        )
                    )
        return rows

    def wiring_signs(self) -> dict[str, tuple[int, int, int]]:
        """sensor id -> (net, prod, cons) as the workbook writes them, wiring faults applied."""
        faults = self.meter.faults
        out = {s.sensor_id: (s.net, s.prod, s.cons) for s in self.sensors}
        for home in sorted(self.standby_homes()):
            pv, twin = self.pv_pair(home)
            if pv is not None and twin is not None:
                out[twin.sensor_id] = (twin.net, -pv.prod, -pv.cons)  # counts the night draw
        for inst in sorted(getattr(faults, "pvinnetwork", ())):
            for home in self.groups.get(inst, [inst]):
                for s in self.sensors_of(home):
                    net, prod, cons = out[s.sensor_id]
                    if s.kind == "pv" and prod:
                        out[s.sensor_id] = (prod, prod, cons)
        for sid in getattr(faults, "reversed", ()):
            net, prod, cons = out[sid]
            out[sid] = (-net, -prod, -cons)
        return out

    def pv_pair(self, home_id: str) -> tuple[SimSensor | None, SimSensor | None]:
        """(PV, PV-) sensors of a home; None where it has none."""
        pv = next((s for s in self.sensors_of(home_id) if s.flow == "pv"), None)
        twin = next((s for s in self.sensors_of(home_id) if s.flow == "standby"), None)
        return pv, twin

    def standby_homes(self) -> dict[str, float]:
        """home id -> its inverter's night draw [W] set by ``standby`` faults."""
        return {
            self.sensor(st.sensor_id).home_id: st.watts
            for st in getattr(self.meter.faults, "standby", ())
        }

    def check_faults(self, faults: object) -> None:
        """Raise ValueError when a wiring fault names what this fleet does not have."""
        for st in getattr(faults, "standby", ()):
            if not self.has_sensor(st.sensor_id):
                raise ValueError(f"fault standby: unknown sensor {st.sensor_id}")
            s = self.sensor(st.sensor_id)
            pv, twin = self.pv_pair(s.home_id)
            if s.kind != "pv" or pv is None or twin is None:
                twins = sorted(h.home_id for h in self.home_specs if h.pv_twin)
                raise ValueError(
                    f"fault standby: {st.sensor_id} is not the PV or PV- sensor of a home "
                    f"with both (homes with a PV- twin: {', '.join(twins) or 'none'})"
                )
        for inst in getattr(faults, "pvinnetwork", ()):
            if inst not in self.homes and inst not in self.groups:
                raise ValueError(f"fault pvinnetwork: unknown installation {inst}")
        for sid in getattr(faults, "reversed", ()):
            if not self.has_sensor(sid):
                raise ValueError(f"fault reversed: unknown sensor {sid}")

    def access_rows(self) -> list[tuple[str, str]]:
        """(login, installation_id): each home sees itself and its group(s).

        Homes not equipped yet (no sensor rows) also have logins, as in the real workbook.
        """
        out: list[tuple[str, str]] = []
        for home in self.homes:
            out.append((home, home))
            out.extend((home, g) for g, members in self.groups.items() if home in members)
        wide = [g for g, m in self.groups.items() if len(m) == len(self.homes)]
        for login in self.unequipped:
            out.append((login, login))
            out.extend((login, g) for g in wide)
        return out

    def captions(self) -> dict[str, str]:
        """Group id -> caption; one extra captioned group has no sensors yet."""
        out = {}
        for g, members in self.groups.items():
            if len(members) == len(self.homes):
                out[g] = "Communauté – toutes les maisons"
            else:
                out[g] = f"Quartier {g[-2:]} – {len(members)} maisons"
        out["CDBA09"] = "Quartier 09 – en préparation"
        return out

    # --- ground truth ----------------------------------------------------------------

    def counter_truth(
        self, sensor_id: str, start: int, end: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The points the meter wrote with meter timestamps in [start, end).

        Returns (ts int64 [s], counter_wh float64 [Wh], rid int64), whether uploaded yet
        or not, with the meter faults installed on the fleet (resets, clock jumps).
        """
        return self.meter.truth_points(self.sensor(sensor_id), int(start), int(end))

    def energy_truth(self, sensor_id: str, start: int, end: int) -> float:
        """Wh the sensor's counter increased over [start, end) (meter timestamps).

        The counter is interpolated linearly between the written points at both bounds
        (so it equals what an exact 8-s-grid resampling gives at grid points); energy
        between the last point of a rid and the first of the next is not counted.
        """
        return self.meter.energy_truth(self.sensor(sensor_id), int(start), int(end))

    def apply_faults(self, faults: object) -> None:
        """Install the meter-side and wiring faults (ValueError when one names an unknown id).

        Meter faults change the points (resets, clock jumps, offline windows, standby
        draw); wiring faults change the rows of ``config_rows``.
        """
        self.check_faults(faults)
        self.meter.set_faults(faults)
