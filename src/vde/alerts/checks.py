"""Pure checks on one installation's day: missing slots, sign coherence, sign-flip search.

No database, clock or logging here: arrays in, arrays and small records out. Power is in W,
timestamps are UTC epoch seconds on the 8-s grid. Signs follow the workbook: production
<= 0, consumption >= 0, ``P_cons = P_tot - P_prod``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vde.models import RawSeries, SensorRow
from vde.processing.installation import installation_power, mask_to_intervals
from vde.timeutil import GRID_S, ceil_grid

# --- the day's slots -----------------------------------------------------------------------


def day_slots(start: int, end: int) -> np.ndarray:
    """The 8-s slots of [start, end) [UTC epoch s], int64 (10350 / 10800 / 11250 a day)."""
    return np.arange(ceil_grid(int(start)), int(end), GRID_S, dtype=np.int64)


def present_mask(slots: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Mask of the ``slots`` that appear in sorted ``ts``.

    Parameters
    ----------
    slots : np.ndarray
        Sorted slots [UTC epoch s].
    ts : np.ndarray
        Sorted, unique timestamps with data [UTC epoch s].

    Returns
    -------
    np.ndarray
        bool, True where the slot has a row.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(slots.shape, dtype=bool)
    idx = np.searchsorted(ts, slots)
    idx_c = np.minimum(idx, ts.size - 1)
    return (idx < ts.size) & (ts[idx_c] == slots)


def merge_periods(slots: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` as half-open periods [start, end) [UTC epoch s].

    ``slots`` are consecutive 8-s slots; a run ends 8 s after its last slot.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    return mask_to_intervals(slots, mask)


@dataclass(frozen=True)
class MissingPeriod:
    """A period [start_ts, end_ts) without installation power, and the sensors without raw."""

    start_ts: int
    end_ts: int
    sensors: tuple[str, ...]  # sensor ids with no raw data during part of the period


def missing_periods(
    slots: np.ndarray,
    power_present: np.ndarray,
    sensor_gaps: Mapping[str, Sequence[tuple[int, int]]],
) -> list[MissingPeriod]:
    """Periods without power, each with the sensors that had no raw data in it.

    Parameters
    ----------
    slots : np.ndarray
        The day's consecutive 8-s slots [UTC epoch s].
    power_present : np.ndarray
        bool per slot: the installation has a power row.
    sensor_gaps : mapping of sensor id to [(start, end)]
        Per sensor, its periods without raw data [UTC epoch s] (half-open).

    Returns
    -------
    list of MissingPeriod
        In time order; ``sensors`` is empty when every sensor had raw data (the power
        simply was not computed there).
    """
    # gaps of one sensor are sorted and disjoint: the last gap starting before b decides
    arrays = {
        sid: (np.array([g[0] for g in gaps], np.int64), np.array([g[1] for g in gaps], np.int64))
        for sid, gaps in sensor_gaps.items()
        if len(gaps)
    }
    out = []
    for a, b in merge_periods(slots, ~np.asarray(power_present, dtype=bool)):
        culprits = []
        for sid, (starts, ends) in sorted(arrays.items()):
            k = int(np.searchsorted(starts, b))  # gaps [0, k) start before b
            if k and ends[k - 1] > a:
                culprits.append(sid)
        out.append(MissingPeriod(a, b, tuple(culprits)))
    return out


# --- sign coherence ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignCheck:
    """Sign coherence of one installation over a set of slots."""

    n: int  # samples checked (8-s slots, or period means)
    cons_negative: int  # samples with p_cons < -threshold
    prod_positive: int  # samples with p_prod > +threshold
    night_production: int  # samples with |p_prod| > night threshold while the sun is down
    min_cons_w: float | None = None  # most negative consumption among violations [W]
    max_prod_w: float | None = None  # most positive production among violations [W]
    max_night_prod_w: float | None = None  # largest |p_prod| at night among violations [W]

    @property
    def sign_ok(self) -> bool:
        return self.cons_negative == 0 and self.prod_positive == 0

    def coherent(self, night_min: int = 1) -> bool:
        """No sign violation, and night production on fewer than ``night_min`` samples."""
        return self.sign_ok and self.night_production < night_min


def sign_check(
    p_cons: np.ndarray,
    p_prod: np.ndarray,
    night: np.ndarray,
    *,
    sign_threshold_w: float,
    night_threshold_w: float,
) -> SignCheck:
    """Count the slots that break the sign convention or produce at night.

    Parameters
    ----------
    p_cons, p_prod : np.ndarray
        Consumption and production per slot [W].
    night : np.ndarray
        bool per slot: the sun is below the horizon.
    sign_threshold_w : float
        Tolerance [W]: consumption below ``-threshold`` or production above ``+threshold``
        is a violation (meters are noisy around zero).
    night_threshold_w : float
        ``|p_prod|`` above this [W] while the sun is down is night production.

    Returns
    -------
    SignCheck
    """
    p_cons = np.asarray(p_cons, dtype=np.float64)
    p_prod = np.asarray(p_prod, dtype=np.float64)
    night = np.asarray(night, dtype=bool)
    neg = p_cons < -sign_threshold_w
    pos = p_prod > sign_threshold_w
    nig = night & (np.abs(p_prod) > night_threshold_w)
    return SignCheck(
        n=int(p_cons.size),
        cons_negative=int(neg.sum()),
        prod_positive=int(pos.sum()),
        night_production=int(nig.sum()),
        min_cons_w=float(p_cons[neg].min()) if neg.any() else None,
        max_prod_w=float(p_prod[pos].max()) if pos.any() else None,
        max_night_prod_w=float(np.abs(p_prod[nig]).max()) if nig.any() else None,
    )


@dataclass(frozen=True)
class Periods:
    """Grouping of 8-s samples into fixed periods, to average them."""

    start_ts: np.ndarray  # start of each period that has samples [UTC epoch s]
    inverse: np.ndarray  # period index of each sample
    counts: np.ndarray  # samples per period

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` (one per sample) in each period."""
        w = np.asarray(values, dtype=np.float64)
        return np.bincount(self.inverse, weights=w, minlength=self.counts.size) / self.counts

    def all_of(self, flags: np.ndarray) -> np.ndarray:
        """True for the periods where every sample's flag is True."""
        n = np.bincount(self.inverse, weights=np.asarray(flags, bool), minlength=self.counts.size)
        return n == self.counts


def periods_of(ts: np.ndarray, start: int, period_s: int) -> Periods:
    """Group samples at ``ts`` [UTC epoch s] into periods of ``period_s`` [s] from ``start``.

    Sign checks run on period means: meters write points at different instants, so an 8-s
    slot can show a brief, meaningless negative consumption while clouds pass; a wrong
    sign shows in every mean.
    """
    keys, inverse, counts = np.unique(
        (np.asarray(ts, np.int64) - start) // period_s, return_inverse=True, return_counts=True
    )
    return Periods(start + keys * period_s, inverse.ravel(), counts)


# --- the sign-flip search ------------------------------------------------------------------


def _on_ts(series: RawSeries | None, ts: np.ndarray) -> np.ndarray:
    """Raw power [W] of a sensor at ``ts`` (0 where it has no row)."""
    out = np.zeros(ts.size)
    if series is None or len(series) == 0 or ts.size == 0:
        return out
    has = present_mask(ts, series.ts)
    idx = np.searchsorted(series.ts, ts[has])
    out[has] = series.power_w[idx]
    return out


@dataclass(frozen=True)
class FlipSearch:
    """Result of trying to flip each sensor's sign."""

    baseline: SignCheck  # the day recomputed from raw with the configured signs
    candidates: tuple[str, ...]  # sensor ids whose flip alone makes the day coherent

    @property
    def sensor_id(self) -> str | None:
        """The one sensor to flip, when exactly one flip makes the day coherent."""
        return self.candidates[0] if len(self.candidates) == 1 else None


def find_sign_flip(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
    night_of: np.ndarray,
    *,
    sign_threshold_w: float,
    night_threshold_w: float,
    period_s: int = GRID_S,
    night_min: int = 1,
) -> FlipSearch:
    """Find the sensors whose sign flip (its Prod and Network signs negated) fixes the day.

    The day is recomputed from raw with ``installation_power``; flipping sensor ``i``
    moves ``P_prod`` by ``-2 Prod_i P_i`` and ``P_tot`` by ``-2 Network_i P_i``, so each
    trial costs one pass over the day instead of a full recomputation.

    Parameters
    ----------
    rows : sequence of SensorRow
        The installation's rows.
    raw : mapping of sensor id to RawSeries
        Raw power per sensor over the day [W].
    start, end : int
        The day [UTC epoch s].
    night_of : np.ndarray
        bool per slot of ``day_slots(start, end)``: the sun is below the horizon.
    sign_threshold_w, night_threshold_w : float
        As in ``sign_check`` [W].
    period_s : int
        Check means over periods of this length [s] (``GRID_S``: every slot).
    night_min : int
        Night production on fewer periods than this is tolerated.

    Returns
    -------
    FlipSearch
        ``candidates`` is empty when the day is already coherent or no single flip helps.
    """
    series = installation_power(rows, raw, start, end)
    ts = series.ts
    if ts.size == 0:
        empty = sign_check(ts, ts, ts, sign_threshold_w=0, night_threshold_w=0)
        return FlipSearch(empty, ())
    per = periods_of(ts, start, period_s)
    night = per.all_of(night_of[(ts - ceil_grid(start)) // GRID_S])
    kw = {"sign_threshold_w": sign_threshold_w, "night_threshold_w": night_threshold_w}
    p_prod, p_tot = per.mean(series.p_prod), per.mean(series.p_tot)
    base = sign_check(p_tot - p_prod, p_prod, night, **kw)
    if base.coherent(night_min):
        return FlipSearch(base, ())
    # each sensor's contribution to the sums, as installation_power counts it (from start_ts)
    contrib: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for r in rows:
        if not (r.prod or r.net):
            continue
        p = _on_ts(raw.get(r.sensor_id), ts) * (ts >= r.start_ts)
        c_prod, c_tot = contrib.get(r.sensor_id, (np.zeros(ts.size), np.zeros(ts.size)))
        contrib[r.sensor_id] = (c_prod + r.prod * p, c_tot + r.net * p)
    found = []
    for sid, (c_prod, c_tot) in sorted(contrib.items()):
        # means are linear: the flipped sums' means move by twice the contribution's mean
        f_prod = p_prod - 2 * per.mean(c_prod)
        f_tot = p_tot - 2 * per.mean(c_tot)
        if sign_check(f_tot - f_prod, f_prod, night, **kw).coherent(night_min):
            found.append(sid)
    return FlipSearch(base, tuple(found))
