"""Diagnosis of an incoherent day: the workbook edits that make it physically coherent.

Pure: rows, raw power and the night mask in; edits and energies out. A day is coherent
when, on every period mean, consumption >= -``sign_threshold_w``, production <= the
standby allowance (``standby_w`` per home with a Prod sensor: an inverter's night draw is
not production), and production < -``night_threshold_w`` while the sun is below the
horizon on fewer than ``night_min`` periods.

Edits are: flip the sign of a Network or Prod cell, or blank it. Installation power is
linear in the signs, so each row's contribution is computed once (its mean per period and
its day energy) and a candidate costs a few vector additions. Candidates are tried by
number of edits (up to 3) and ranked by consistency with the Function names first
(``configlint.violations`` left: grid clamps in Network only, PV clamps in Prod only,
twins with opposite signs), then by the number of edits, flips before blanks; an edit that
adds an inconsistency is never proposed. So a PV clamp also counted
in Network gets "blank Network on PV and PV-", not the flip of ``Mains-`` that makes the
curves look coherent while doubling the energy.

A group is diagnosed home by home (its rows of each member home, as if alone, on the
group's slots): a group's problem is the sum of its members' and a search over a 146-row
group is out of reach.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations, product

import numpy as np

from vde.alerts.checks import SignCheck, periods_of, present_mask, sign_check
from vde.models import RawSeries, SensorRow
from vde.processing.configlint import violations
from vde.processing.installation import installation_power
from vde.timeutil import GRID_S, ceil_grid

#: Names a row's sensor for people ("PV", or "CDB003 / PV" in a group).
Labeler = Callable[[SensorRow], str]
#: Edits tried at most in one candidate (a home's PV and PV- both in Network take 2).
MAX_EDITS = 3
COLUMNS = {"Network": "net", "Prod": "prod"}


@dataclass(frozen=True)
class Edit:
    """One workbook cell to change: ``column`` of ``sensor_id`` in ``installation_id``."""

    installation_id: str
    sensor_id: str
    function: str  # as people find it: "PV", or "CDB003 / PV" in a group
    column: str  # "Network" | "Prod"
    old: int
    new: int

    def key(self) -> tuple:
        return (self.installation_id, self.sensor_id, self.column, self.old, self.new)

    def to_json(self) -> dict:
        return {
            "installation": self.installation_id,
            "sensor_id": self.sensor_id,
            "function": self.function,
            "column": self.column,
            "from": self.old,
            "to": self.new,
        }

    def words(self) -> str:
        """'flip the sign of PV (sensor …) in Prod (+1 → -1)' / 'blank Network of PV …'."""
        who = f"{self.function} (sensor {self.sensor_id})"
        if self.new == 0:
            return f"blank {self.column} of {who} (now {self.old:+d})"
        return f"flip the sign of {who} in {self.column} ({self.old:+d} → {self.new:+d})"


@dataclass(frozen=True)
class Limits:
    """Coherence thresholds [W] and the night tolerance [periods]."""

    sign_threshold_w: float
    night_threshold_w: float
    standby_w: float
    night_min: int = 1


def standby_allowance(
    rows: Sequence[SensorRow], homes: Mapping[str, str], standby_w: float
) -> float:
    """Positive production tolerated [W]: ``standby_w`` per home with a Prod sensor."""
    n = len({homes.get(r.sensor_id, r.installation_id) for r in rows if r.prod})
    return standby_w * max(1, n)


def check_power(
    p_cons: np.ndarray, p_prod: np.ndarray, night: np.ndarray, limits: Limits, standby_w: float
) -> SignCheck:
    """``sign_check`` with the thresholds of ``limits`` and a standby allowance [W]."""
    return sign_check(
        p_cons,
        p_prod,
        night,
        sign_threshold_w=limits.sign_threshold_w,
        night_threshold_w=limits.night_threshold_w,
        standby_w=standby_w,
    )


def _on_ts(series: RawSeries | None, ts: np.ndarray) -> np.ndarray:
    """Raw power [W] of a sensor at ``ts`` (0 where it has no row)."""
    out = np.zeros(ts.size)
    if series is None or len(series) == 0 or ts.size == 0:
        return out
    has = present_mask(ts, series.ts)
    idx = np.searchsorted(series.ts, ts[has])
    out[has] = series.power_w[idx]
    return out


def _home_slots(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
    homes: Mapping[str, str] | None,
    ts: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """A group's member homes -> bool per slot of ``ts``: the home is complete there (None
    for a home, or without ``homes``)."""
    by_home: dict[str, list[SensorRow]] = {}
    for r in rows:
        by_home.setdefault((homes or {}).get(r.sensor_id, r.installation_id), []).append(r)
    if not homes or set(by_home) == {r.installation_id for r in rows}:
        return None
    return {
        h: present_mask(ts, installation_power(hr, raw, start, end).ts) for h, hr in by_home.items()
    }


class DayModel:
    """One installation's day, decomposed per row: what any set of signs would give.

    Parameters
    ----------
    rows : sequence of SensorRow
        The rows (an installation's, or a group's rows of one member home).
    raw : mapping of sensor id to RawSeries
        Raw power per sensor over the day [W].
    start, end : int
        The day [UTC epoch s].
    night_of : np.ndarray
        bool per slot of ``day_slots(start, end)``: the sun is below the horizon.
    period_s : int
        Coherence is checked on means over periods of this length [s].
    homes : mapping of sensor id to home, optional
        A group's day as its stored power has it: a slot counts the member homes complete
        there (a row adds nothing where its home is not), and shows when one home is.
    """

    def __init__(
        self,
        rows: Sequence[SensorRow],
        raw: Mapping[str, RawSeries],
        start: int,
        end: int,
        night_of: np.ndarray,
        period_s: int,
        homes: Mapping[str, str] | None = None,
    ) -> None:
        self.rows = [r for r in rows if r.net or r.prod]
        ts = installation_power(self.rows, raw, start, end, homes).ts
        counted = _home_slots(self.rows, raw, start, end, homes, ts)
        self.n_slots = int(ts.size)
        n = len(self.rows)
        if ts.size:
            per = periods_of(ts, start, period_s)
            self.night = per.all_of(night_of[(ts - ceil_grid(start)) // GRID_S])
            npr = per.counts.size
        else:
            per, self.night, npr = None, np.zeros(0, bool), 0
        self.means = np.zeros((n, npr))  # per row, mean power per period [W]
        self.kwh = np.zeros(n)  # per row, energy over the day's slots with power [kWh]
        for i, r in enumerate(self.rows):
            p = _on_ts(raw.get(r.sensor_id), ts) * (ts >= r.start_ts)
            if counted is not None:
                p = p * counted[homes.get(r.sensor_id, r.installation_id)]
            if per is not None:
                self.means[i] = per.mean(p)
            self.kwh[i] = float(p.sum()) * GRID_S / 3600.0 / 1000.0
        self.net = np.array([r.net for r in self.rows], dtype=np.float64)
        self.prod = np.array([r.prod for r in self.rows], dtype=np.float64)

    def subset(self, rows: Sequence[SensorRow]) -> DayModel:
        """The same day restricted to some of its rows (a group's rows of one home).

        The periods stay the group's: its slots (see ``homes``).
        """
        wanted = set(rows)
        keep = [i for i, r in enumerate(self.rows) if r in wanted]
        out = object.__new__(DayModel)
        out.rows = [self.rows[i] for i in keep]
        out.n_slots, out.night = self.n_slots, self.night
        out.means, out.kwh = self.means[keep], self.kwh[keep]
        out.net, out.prod = self.net[keep], self.prod[keep]
        return out

    def sums(self, net: np.ndarray, prod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(p_prod, p_tot) period means [W] with these signs per row."""
        return prod @ self.means, net @ self.means

    def kwh_of(self, net: np.ndarray, prod: np.ndarray) -> dict[str, float]:
        """The day's energy [kWh] with these signs: cons, prod, tot."""
        e_prod, e_tot = float(prod @ self.kwh), float(net @ self.kwh)
        return {"cons": round(e_tot - e_prod, 3), "prod": round(e_prod, 3), "tot": round(e_tot, 3)}

    def check(self, net: np.ndarray, prod: np.ndarray, limits: Limits, standby: float) -> SignCheck:
        p_prod, p_tot = self.sums(net, prod)
        return check_power(p_tot - p_prod, p_prod, self.night, limits, standby)


@dataclass(frozen=True)
class Diagnosis:
    """The edits that make a day coherent, and the energies before and after."""

    edits: tuple[Edit, ...] | None  # None: no fix found; (): already coherent
    kwh_now: dict[str, float]  # the day recomputed from raw with the configured signs
    kwh_fixed: dict[str, float] | None  # the same with the edits applied
    alternatives: int = 0  # other fixes that rank as high
    homes: tuple[str, ...] = ()  # member homes whose rows alone make the day incoherent

    @property
    def found(self) -> bool:
        return bool(self.edits)


def search(
    model: DayModel,
    homes: Mapping[str, str],
    limits: Limits,
    label: Labeler,
    *,
    max_edits: int = MAX_EDITS,
) -> Diagnosis:
    """The fewest consistent edits of ``model.rows`` that make the day coherent.

    ``label(row)`` names a row's sensor for people. Returns ``Diagnosis.edits`` None when
    no candidate of up to ``max_edits`` edits is coherent and consistent.
    """
    rows = model.rows
    net0, prod0 = model.net.copy(), model.prod.copy()
    standby = standby_allowance(rows, homes, limits.standby_w)
    now = model.kwh_of(net0, prod0)
    if model.n_slots == 0 or model.check(net0, prod0, limits, standby).coherent(limits.night_min):
        return Diagnosis((), now, now)
    cells = [(i, col) for i, r in enumerate(rows) for col in COLUMNS if getattr(r, COLUMNS[col])]
    before = violations(rows, homes)
    found: list[tuple[int, int, int, list[tuple[int, str, int]]]] = []
    for k in range(1, max_edits + 1):
        if found and found[0][0] == 0:
            break  # consistent with k-1 edits: more edits cannot rank higher
        for combo in combinations(cells, k):
            for modes in product((True, False), repeat=k):  # True: flip, False: blank
                net, prod = net0.copy(), prod0.copy()
                change = []
                for (i, col), flip in zip(combo, modes, strict=True):
                    vec = net if col == "Network" else prod
                    new = -int(vec[i]) if flip else 0
                    change.append((i, col, new))
                    vec[i] = new
                if not model.check(net, prod, limits, standby).coherent(limits.night_min):
                    continue
                after = violations(_apply(rows, change), homes)
                if after - before:
                    continue  # the edit would break the wiring the names imply
                found.append((len(after), k, sum(not f for f in modes), change))
        found.sort(key=lambda f: f[:3])  # consistency, edits, flips before blanks
    if not found:
        return Diagnosis(None, now, None)
    change = found[0][3]
    net, prod = net0.copy(), prod0.copy()
    edits = []
    for i, col, new in change:
        vec = net if col == "Network" else prod
        r = rows[i]
        edits.append(Edit(r.installation_id, r.sensor_id, label(r), col, int(vec[i]), new))
        vec[i] = new
    ties = sum(1 for f in found[1:] if f[:3] == found[0][:3])
    return Diagnosis(tuple(edits), now, model.kwh_of(net, prod), ties)


def _apply(rows: Sequence[SensorRow], change: Sequence[tuple[int, str, int]]) -> list[SensorRow]:
    out = list(rows)
    for i, col, new in change:
        out[i] = replace(out[i], **{COLUMNS[col]: new})
    return out


def diagnose(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
    night_of: np.ndarray,
    homes: Mapping[str, str],
    limits: Limits,
    label: Labeler,
    *,
    period_s: int,
) -> Diagnosis:
    """The workbook edits that make one installation's day coherent (homes and groups).

    A group is searched home by home: each member home's rows within the group, alone;
    the union of their edits is then checked on the whole group.
    """
    by_home: dict[str, list[SensorRow]] = {}
    for r in rows:
        by_home.setdefault(homes.get(r.sensor_id, r.installation_id), []).append(r)
    whole = DayModel(rows, raw, start, end, night_of, period_s, homes)
    if len(by_home) <= 1:
        diag = search(whole, homes, limits, label)
        return replace(diag, homes=tuple(by_home) if diag.edits != () else ())
    edits: list[Edit] = []
    culprits: list[str] = []
    unfixed = False
    for home in sorted(by_home):
        part = search(whole.subset(by_home[home]), homes, limits, label)
        if part.edits != ():
            culprits.append(home)
        if part.edits is None:
            unfixed = True
        else:
            edits += part.edits
    if unfixed:
        return Diagnosis(None, whole.kwh_of(whole.net, whole.prod), None, homes=tuple(culprits))
    net, prod = whole.net.copy(), whole.prod.copy()
    index = {r.sensor_id: i for i, r in enumerate(whole.rows)}
    for e in edits:
        (net if e.column == "Network" else prod)[index[e.sensor_id]] = e.new
    now = whole.kwh_of(whole.net, whole.prod)
    standby = standby_allowance(whole.rows, homes, limits.standby_w)
    if not whole.check(net, prod, limits, standby).coherent(limits.night_min):
        return Diagnosis(None, now, None, homes=tuple(culprits))
    return Diagnosis(tuple(edits), now, whole.kwh_of(net, prod), homes=tuple(culprits))
