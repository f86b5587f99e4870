"""Indicators of a sharing run per local day, month or year, and what members save in €.

With prices in €/kWh (all settings):

- a consumer pays the shared-energy price instead of its supplier's price for what it
  receives, and its network costs drop by the reduction per kWh shared:
  ``saved = received · (supplier − shared + network_reduction)``;
- a producer is paid the shared-energy price instead of the injection price for what it
  shares out: ``earned = shared_out · (shared − injection)``;
- € saved of a member = saved + earned.

Community indicators: collective self-consumption rate ``shared / Σ injection`` and
self-sufficiency through sharing ``shared / Σ offtake``. Per member: received / offtake.
Fairness across consumers: spread (max − min) and standard deviation, among members with
offtake, of what a member saves on its offtake per kWh of offtake over the period,
``received / offtake · (supplier − shared + network_reduction)`` [€/kWh]. Producers'
earnings are left out: every key splits them the same way (pro rata of injection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from vde.processing.rollups import local_day_starts
from vde.processing.sharing import QUARTER_S, SharingResult
from vde.timeutil import BRUSSELS

PERIODS = ("day", "month", "year", "all")


@dataclass(frozen=True)
class Prices:
    """Prices [€/kWh]."""

    shared_eur_kwh: float = 0.0
    supplier_eur_kwh: float = 0.0
    injection_eur_kwh: float = 0.0
    network_reduction_eur_kwh: float = 0.0

    @property
    def consumer_eur_kwh(self) -> float:
        """What a consumer saves per kWh received [€/kWh]."""
        return self.supplier_eur_kwh - self.shared_eur_kwh + self.network_reduction_eur_kwh

    def saved_eur(self, received_wh: np.ndarray, shared_out_wh: np.ndarray) -> np.ndarray:
        """€ saved (consumer side) plus € earned (producer side), same shape as inputs."""
        producer = self.shared_eur_kwh - self.injection_eur_kwh
        return (received_wh * self.consumer_eur_kwh + shared_out_wh * producer) / 1000.0


def period_groups(
    ts: np.ndarray, period: str, tz: ZoneInfo = BRUSSELS
) -> tuple[np.ndarray, list[str]]:
    """Group index of each quarter start (time order) and the labels of the groups.

    Labels are local periods: 'YYYY-MM-DD', 'YYYY-MM', 'YYYY', or 'all'.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return np.zeros(0, np.int64), []
    if period == "all":
        return np.zeros(len(ts), np.int64), ["all"]
    # labels per local day only (a few hundred), then per quarter by index
    days = local_day_starts(int(ts.min()), int(ts.max()), tz)
    width = {"day": 10, "month": 7, "year": 4}[period]
    names = [datetime.fromtimestamp(int(d), tz).date().isoformat()[:width] for d in days]
    day_group = np.cumsum([0] + [a != b for a, b in zip(names, names[1:], strict=False)])
    labels = [names[0]] + [b for a, b in zip(names, names[1:], strict=False) if a != b]
    return day_group[np.searchsorted(days, ts, side="right") - 1], labels


def period_labels(ts: np.ndarray, period: str, tz: ZoneInfo = BRUSSELS) -> np.ndarray:
    """Local period of each quarter start: 'YYYY-MM-DD', 'YYYY-MM', 'YYYY' or 'all'."""
    group, labels = period_groups(ts, period, tz)
    return np.array(labels, dtype=object)[group] if len(group) else np.array([], dtype=object)


@dataclass
class Indicators:
    """Sums per period (rows) and member (columns); energies [Wh], money [€]."""

    period: str
    labels: list[str]
    members: tuple[str, ...]
    quarters: np.ndarray  # (P,) quarters in the period
    offtake_wh: np.ndarray  # (P, M)
    injection_wh: np.ndarray
    received_wh: np.ndarray
    shared_out_wh: np.ndarray
    saved_eur: np.ndarray
    coverage: np.ndarray  # (P, M) share of the period's time with data
    flagged_quarters: np.ndarray  # (P, M) quarters computed on incomplete data
    consumer_eur_kwh: float = 0.0  # what a consumer saves per kWh received [€/kWh]

    @property
    def shared_wh(self) -> np.ndarray:
        return self.received_wh.sum(axis=1)

    def collective_self_consumption(self) -> np.ndarray:
        """(P,) shared / Σ injection (NaN without injection)."""
        return _ratio(self.shared_wh, self.injection_wh.sum(axis=1))

    def self_sufficiency(self) -> np.ndarray:
        """(P,) shared / Σ offtake (NaN without offtake)."""
        return _ratio(self.shared_wh, self.offtake_wh.sum(axis=1))

    def member_self_sufficiency(self) -> np.ndarray:
        """(P, M) received / offtake."""
        return _ratio(self.received_wh, self.offtake_wh)

    def fairness(self) -> tuple[np.ndarray, np.ndarray]:
        """(spread, std) per period of the € saved on offtake per kWh of offtake [€/kWh],
        among members with offtake."""
        per_kwh = _ratio(self.received_wh, self.offtake_wh) * self.consumer_eur_kwh
        spread = np.full(len(self.labels), np.nan)
        std = np.full(len(self.labels), np.nan)
        for p in range(len(self.labels)):
            v = per_kwh[p][np.isfinite(per_kwh[p])]
            if len(v):
                spread[p] = float(v.max() - v.min())
                std[p] = float(v.std())
        return spread, std


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def indicators(
    result: SharingResult, prices: Prices, period: str, tz: ZoneInfo = BRUSSELS
) -> Indicators:
    """Sum a sharing result per local ``period`` ("day", "month", "year" or "all").

    Parameters
    ----------
    result : SharingResult
        Quarters [Wh] of one community.
    prices : Prices
        Prices [€/kWh].
    period : str
        Local day, month, year (``tz``), or the whole window.

    Returns
    -------
    Indicators
        Period labels in time order; per member sums [Wh, €], coverage (0..1) and the
        number of quarters computed on incomplete data.
    """
    ts = np.asarray(result.ts, dtype=np.int64)
    if len(ts) > 1 and np.any(np.diff(ts) <= 0):
        raise ValueError("result.ts must be sorted and unique")
    group, names = period_groups(ts, period, tz)
    if len(group):
        first = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    else:
        first = np.empty(0, np.int64)
    n = len(first)
    bounds = np.append(first, len(ts))

    def total(x: np.ndarray) -> np.ndarray:
        # slice sums: much faster than np.add.reduceat over axis 0 of a (Q, M) array
        out = np.empty((n, x.shape[1]), dtype=np.float64)
        for p in range(n):
            out[p] = x[bounds[p] : bounds[p + 1]].sum(axis=0)
        return out

    quarters = np.diff(np.concatenate((first, [len(ts)]))).astype(np.int64)
    saved = prices.saved_eur(result.received_wh, result.shared_out_wh)
    covered = total(result.covered_s)
    return Indicators(
        period=period,
        labels=[names[int(group[i])] for i in first],
        members=result.members,
        quarters=quarters,
        offtake_wh=total(result.offtake_wh),
        injection_wh=total(result.injection_wh),
        received_wh=total(result.received_wh),
        shared_out_wh=total(result.shared_out_wh),
        saved_eur=total(saved),
        coverage=covered / (quarters[:, None] * QUARTER_S),
        flagged_quarters=total(result.flagged).astype(np.int64),
        consumer_eur_kwh=prices.consumer_eur_kwh,
    )
