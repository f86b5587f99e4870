"""Pure checks on one installation's day: missing slots and sign coherence.

No database, clock or logging here: arrays in, arrays and small records out. Power is in W,
timestamps are UTC epoch seconds on the 8-s grid. Signs follow the workbook: production
<= 0, consumption >= 0, ``P_cons = P_tot - P_prod``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vde.processing.installation import mask_to_intervals
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
    """Sign coherence of one installation over a set of samples."""

    n: int  # samples checked (8-s slots, or period means)
    cons_negative: int  # samples with p_cons < -sign threshold
    prod_positive: int  # samples with p_prod > +standby allowance
    night_production: int  # samples with p_prod < -night threshold while the sun is down
    min_cons_w: float | None = None  # most negative consumption among violations [W]
    max_prod_w: float | None = None  # most positive production among violations [W]
    max_night_prod_w: float | None = None  # largest production at night, as W produced

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
    standby_w: float | None = None,
) -> SignCheck:
    """Count the samples that break the sign convention or produce at night.

    Parameters
    ----------
    p_cons, p_prod : np.ndarray
        Consumption and production per sample [W].
    night : np.ndarray
        bool per sample: the sun is below the horizon.
    sign_threshold_w : float
        Tolerance [W]: consumption below ``-threshold`` is a violation (meters are noisy
        around zero).
    night_threshold_w : float
        Production below ``-threshold`` [W] while the sun is down is night production.
    standby_w : float, optional
        Positive production up to this [W] is an inverter's standby draw, not an error;
        above it, a wrong sign. Default: ``sign_threshold_w``.

    Returns
    -------
    SignCheck
    """
    p_cons = np.asarray(p_cons, dtype=np.float64)
    p_prod = np.asarray(p_prod, dtype=np.float64)
    night = np.asarray(night, dtype=bool)
    standby = sign_threshold_w if standby_w is None else standby_w
    neg = p_cons < -sign_threshold_w
    pos = p_prod > standby
    nig = night & (p_prod < -night_threshold_w)
    return SignCheck(
        n=int(p_cons.size),
        cons_negative=int(neg.sum()),
        prod_positive=int(pos.sum()),
        night_production=int(nig.sum()),
        min_cons_w=float(p_cons[neg].min()) if neg.any() else None,
        max_prod_w=float(p_prod[pos].max()) if pos.any() else None,
        max_night_prod_w=float(-p_prod[nig].min()) if nig.any() else None,
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
