"""Energy sharing in a community: quarter-hour balances and the allocation by sharing key.

The rules (Brussels "partage d'énergie", Luxembourg quarter-hourly balances) work on each
participant's smart-meter registers per quarter-hour: offtake (energy taken from the
grid) and injection (energy sent to it). For one quarter:

- ``shared = min(Σ injection, Σ offtake)`` can be shared;
- a **key** allocates it to consumers, never more than a consumer's offtake;
- each producer's shared-out energy is ``shared · injection_p / Σ injection``.

Keys (``SharingKey.method``):

- ``prorata``: of offtake in the quarter; every consumer gets the same received/offtake;
- ``fixed``: percentages; a capped member's surplus goes to the uncapped ones by their
  percentages, until stable (``redistribute=False`` leaves it injected);
- ``hybrid``: fixed percentages capped at offtake, then the rest pro rata of the residual
  offtake;
- ``priority``: members served fully in order; members not in the order come last, pro
  rata of their offtake.

``prorata``, ``hybrid`` and ``priority`` always share the whole
``min(Σ injection, Σ offtake)``; with ``fixed``, members without a percentage receive
nothing, so energy may stay injected. The energy
actually shared is ``Σ received``, equal to ``Σ shared out``.

Everything here is pure numpy on arrays shaped (quarters, members); no I/O, clock or log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vde.models import QuarterBalances
from vde.timeutil import GRID_S

QUARTER_S = 900
"""Length of a sharing period [s]; quarters start on UTC multiples of it."""
METHODS = ("fixed", "prorata", "hybrid", "priority")

# relative tolerance of "nothing left to redistribute" [Wh per Wh shared]
_EPS = 1e-12


def quarter_grid(start: int, end: int) -> np.ndarray:
    """Quarter starts [UTC epoch s] covering [start, end), aligned on 15-min UTC boundaries."""
    lo = int(start) - int(start) % QUARTER_S
    return np.arange(lo, int(end), QUARTER_S, dtype=np.int64)


def quarter_balances(ts: np.ndarray, p_tot_w: np.ndarray, start: int, end: int) -> QuarterBalances:
    """Offtake and injection per quarter-hour from a home's 8-s total power.

    A quarter is 112.5 slots of 8 s: every second quarter starts in the middle of a slot
    (900 = 112·8 + 4). Such a slot's energy is split between the two quarters in
    proportion to its time in each (half and half), so energy is conserved exactly.

    Parameters
    ----------
    ts : ndarray of int64
        8-s slot starts [UTC epoch s], sorted and unique; slots without data are absent.
    p_tot_w : ndarray of float64
        Mean total (grid) power over each slot [W]: > 0 import, < 0 export.
    start, end : int
        Window [UTC epoch s]; every quarter overlapping [start, end) is returned, also
        those without data (covered_s = 0, energies 0).

    Returns
    -------
    QuarterBalances
        ``offtake_wh = Σ max(P_tot, 0)·Δt/3600`` and ``injection_wh = Σ max(−P_tot, 0)·Δt/3600``
        [Wh] over the quarter's slots (Δt: the slot's seconds inside the quarter): the
        increments of a smart meter's import and export registers, without netting
        across slots; ``covered_s`` [s] of the quarter with data.
    """
    grid = quarter_grid(start, end)
    ts = np.asarray(ts, dtype=np.int64)
    p = np.asarray(p_tot_w, dtype=np.float64)
    if len(ts) != len(p):
        raise ValueError("ts and p_tot_w must have the same length")
    q = len(grid)
    if q == 0:
        z = np.zeros(0)
        return QuarterBalances(grid, z, z.copy(), np.zeros(0, np.int64))
    g0 = int(grid[0])
    keep = (ts > g0 - GRID_S) & (ts < int(grid[-1]) + QUARTER_S)
    ts, p = ts[keep], p[keep]
    # bin 0 collects what falls before the window, bin q+1 what falls after it
    rel = ts - g0
    idx = rel // QUARTER_S + 1
    secs_first = np.minimum(QUARTER_S - rel % QUARTER_S, GRID_S)  # slot seconds in idx
    secs_next = GRID_S - secs_first

    def per_quarter(weights_per_s: np.ndarray) -> np.ndarray:
        a = np.bincount(idx, weights=weights_per_s * secs_first, minlength=q + 2)
        b = np.bincount(idx + 1, weights=weights_per_s * secs_next, minlength=q + 2)
        return (a + b)[1 : q + 1]

    off = per_quarter(np.maximum(p, 0.0)) / 3600.0
    inj = per_quarter(np.maximum(-p, 0.0)) / 3600.0
    covered = np.rint(per_quarter(np.ones(len(ts)))).astype(np.int64)
    return QuarterBalances(ts=grid, offtake_wh=off, injection_wh=inj, covered_s=covered)


@dataclass(frozen=True)
class SharingKey:
    """A community's sharing key, valid from ``valid_from`` [UTC epoch s] to the next one.

    ``shares`` are percentages per member (fixed, hybrid); ``order`` lists members for
    ``priority``.
    """

    method: str
    shares: dict[str, float] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    redistribute: bool = True
    valid_from: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown sharing key {self.method!r}: use one of {', '.join(METHODS)}"
            )
        if any(v < 0 for v in self.shares.values()):
            raise ValueError("sharing percentages must be >= 0")
        if self.method in ("fixed", "hybrid"):
            total = sum(self.shares.values())
            if abs(total - 100.0) > 0.01:
                raise ValueError(f"{self.method} key percentages add up to {total:g} %, not 100 %")
        if self.method == "priority" and not self.order:
            raise ValueError("a priority key needs the ordered list of members")
        if len(set(self.order)) != len(self.order):
            raise ValueError("a member appears twice in the priority order")

    def label(self) -> str:
        if self.method == "fixed" and not self.redistribute:
            return "fixed-noredistribute"
        return self.method

    def weights(self, members: Sequence[str]) -> np.ndarray:
        """Fractions (0..1) of the fixed key per member, in ``members`` order."""
        return np.array([self.shares.get(m, 0.0) / 100.0 for m in members], dtype=np.float64)


# --- allocation ------------------------------------------------------------------------------


def shareable_wh(offtake_wh: np.ndarray, injection_wh: np.ndarray) -> np.ndarray:
    """``min(Σ injection, Σ offtake)`` per quarter [Wh]; arrays shaped (quarters, members)."""
    return np.minimum(injection_wh.sum(axis=1), offtake_wh.sum(axis=1))


def allocate_prorata(offtake_wh: np.ndarray, shared_wh: np.ndarray) -> np.ndarray:
    """Received [Wh] pro rata of offtake: the same received/offtake ratio for everyone."""
    total = offtake_wh.sum(axis=1)
    ratio = np.divide(shared_wh, total, out=np.zeros_like(total), where=total > 0)
    return offtake_wh * np.minimum(ratio, 1.0)[:, None]


def allocate_fixed(
    offtake_wh: np.ndarray, shared_wh: np.ndarray, weights: np.ndarray, *, redistribute: bool
) -> np.ndarray:
    """Received [Wh] by fixed fractions ``weights`` (members,), capped at offtake.

    With ``redistribute`` what capped members cannot take is handed to the uncapped ones
    in proportion to their fractions, again and again until nothing is left or everyone
    with a fraction is capped (at most one round per member).
    """
    q, m = offtake_wh.shape
    w = np.asarray(weights, dtype=np.float64)
    got = np.minimum(w[None, :] * shared_wh[:, None], offtake_wh)
    if not redistribute:
        return got
    # only quarters with something left need another round; most need none or one
    rows = np.arange(q)
    for _ in range(m):
        sub_got, sub_off, sub_shared = got[rows], offtake_wh[rows], shared_wh[rows]
        left = sub_shared - sub_got.sum(axis=1)
        room = sub_off - sub_got
        open_w = np.where(room > 0, w[None, :], 0.0)
        wsum = open_w.sum(axis=1)
        todo = (left > _EPS * np.maximum(sub_shared, 1.0)) & (wsum > 0)
        if not todo.any():
            break
        rows, left, room, open_w, wsum = (
            rows[todo],
            left[todo],
            room[todo],
            open_w[todo],
            wsum[todo],
        )
        got[rows] = sub_got[todo] + np.minimum((left / wsum)[:, None] * open_w, room)
    return got


def allocate_hybrid(
    offtake_wh: np.ndarray, shared_wh: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Received [Wh]: fixed fractions capped at offtake, the rest pro rata of what is left.

    Since ``shared <= Σ offtake`` the pro rata step never exceeds anyone's residual
    offtake, so the whole shareable energy is allocated.
    """
    first = allocate_fixed(offtake_wh, shared_wh, weights, redistribute=False)
    rest = shared_wh - first.sum(axis=1)
    return first + allocate_prorata(offtake_wh - first, np.maximum(rest, 0.0))


def allocate_priority(
    offtake_wh: np.ndarray, shared_wh: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Received [Wh] served in priority order.

    ``rank`` (members,) gives each member's place (0 first); members with rank -1 are not
    in the order and share what the ranked members leave, pro rata of their offtake.
    """
    rank = np.asarray(rank, dtype=np.int64)
    ranked = np.flatnonzero(rank >= 0)
    ranked = ranked[np.argsort(rank[ranked], kind="stable")]
    got = np.zeros_like(offtake_wh)
    if len(ranked):
        off = offtake_wh[:, ranked]
        before = np.cumsum(off, axis=1) - off
        got[:, ranked] = np.clip(shared_wh[:, None] - before, 0.0, off)
    rest = np.maximum(shared_wh - got.sum(axis=1), 0.0)
    others = np.flatnonzero(rank < 0)
    if len(others):
        got[:, others] = allocate_prorata(offtake_wh[:, others], rest)
    return got


def allocate(
    key: SharingKey, members: Sequence[str], offtake_wh: np.ndarray, injection_wh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one key to quarters of a community.

    Parameters
    ----------
    key : SharingKey
        The key.
    members : sequence of str
        Member ids, the columns of the arrays.
    offtake_wh, injection_wh : ndarray, shape (quarters, members)
        Register increments per quarter and member [Wh], >= 0.

    Returns
    -------
    received_wh, shared_out_wh : ndarray, shape (quarters, members)
        Energy each member receives from the community, and each member's injection
        that is shared [Wh]. ``Σ received = Σ shared out`` per quarter.
    """
    off = np.asarray(offtake_wh, dtype=np.float64)
    inj = np.asarray(injection_wh, dtype=np.float64)
    if off.shape != inj.shape or off.ndim != 2 or off.shape[1] != len(members):
        raise ValueError("offtake and injection must be shaped (quarters, members)")
    shared = shareable_wh(off, inj)
    act = np.flatnonzero(shared > 0)  # nights share nothing: skip them
    got = np.zeros_like(off)
    if len(act):
        got[act] = _allocate_rows(key, members, off[act], shared[act])
    given = got.sum(axis=1)
    total_inj = inj.sum(axis=1)
    ratio = np.divide(given, total_inj, out=np.zeros_like(given), where=total_inj > 0)
    return got, inj * ratio[:, None]


def _allocate_rows(
    key: SharingKey, members: Sequence[str], off: np.ndarray, shared: np.ndarray
) -> np.ndarray:
    if key.method == "prorata":
        return allocate_prorata(off, shared)
    if key.method == "fixed":
        return allocate_fixed(off, shared, key.weights(members), redistribute=key.redistribute)
    if key.method == "hybrid":
        return allocate_hybrid(off, shared, key.weights(members))
    place = {m: i for i, m in enumerate(key.order)}
    return allocate_priority(off, shared, np.array([place.get(m, -1) for m in members]))


# --- a run over dated keys ------------------------------------------------------------------


@dataclass
class SharingResult:
    """Per quarter and member: registers, coverage and what the key allocated."""

    members: tuple[str, ...]
    ts: np.ndarray  # (Q,) quarter starts [UTC epoch s]
    offtake_wh: np.ndarray  # (Q, M)
    injection_wh: np.ndarray  # (Q, M)
    covered_s: np.ndarray  # (Q, M) int64 seconds with data
    received_wh: np.ndarray  # (Q, M)
    shared_out_wh: np.ndarray  # (Q, M)
    key_index: np.ndarray  # (Q,) index of the key version used, -1 before the first

    @property
    def residual_offtake_wh(self) -> np.ndarray:
        return self.offtake_wh - self.received_wh

    @property
    def residual_injection_wh(self) -> np.ndarray:
        return self.injection_wh - self.shared_out_wh

    @property
    def shared_wh(self) -> np.ndarray:
        """Energy shared per quarter [Wh] (= Σ received = Σ shared out)."""
        return self.received_wh.sum(axis=1)

    @property
    def coverage(self) -> np.ndarray:
        """Share of each quarter's 8-s slots with data (0..1), (Q, M)."""
        return self.covered_s / QUARTER_S

    @property
    def flagged(self) -> np.ndarray:
        """(Q, M) True where a member's quarter is computed on incomplete data."""
        return self.covered_s < QUARTER_S


def key_for_quarters(keys: Sequence[SharingKey], ts: np.ndarray) -> np.ndarray:
    """Index into ``keys`` (sorted by valid_from) of the key valid at each quarter; -1 none."""
    starts = np.array([k.valid_from for k in keys], dtype=np.int64)
    if len(starts) > 1 and np.any(np.diff(starts) <= 0):
        raise ValueError("key versions must have distinct valid_from dates, sorted")
    return np.searchsorted(starts, np.asarray(ts, dtype=np.int64), side="right") - 1


def run_sharing(
    members: Sequence[str],
    ts: np.ndarray,
    offtake_wh: np.ndarray,
    injection_wh: np.ndarray,
    covered_s: np.ndarray,
    keys: Sequence[SharingKey],
) -> SharingResult:
    """Sharing of a community over quarters, each quarter with the key valid at its start.

    Parameters
    ----------
    members : sequence of str
        Member ids (columns).
    ts : ndarray of int64, shape (Q,)
        Quarter starts [UTC epoch s].
    offtake_wh, injection_wh : ndarray, shape (Q, M)
        Register increments [Wh]; a quarter without data for a member is 0 there.
    covered_s : ndarray of int, shape (Q, M)
        Seconds with data (a quarter below 900 is computed on what exists and flagged).
    keys : sequence of SharingKey
        Versions sorted by ``valid_from``; quarters before the first share nothing.

    Returns
    -------
    SharingResult
    """
    ts = np.asarray(ts, dtype=np.int64)
    off = np.asarray(offtake_wh, dtype=np.float64)
    inj = np.asarray(injection_wh, dtype=np.float64)
    if off.shape != (len(ts), len(members)):
        raise ValueError("offtake must be shaped (quarters, members)")
    which = key_for_quarters(keys, ts)
    received = np.zeros_like(off)
    out = np.zeros_like(off)
    for i, key in enumerate(keys):
        sel = which == i
        if sel.all():
            received, out = allocate(key, members, off, inj)
        elif sel.any():
            received[sel], out[sel] = allocate(key, members, off[sel], inj[sel])
    return SharingResult(
        members=tuple(members),
        ts=ts,
        offtake_wh=off,
        injection_wh=inj,
        covered_s=np.asarray(covered_s, dtype=np.int64),
        received_wh=received,
        shared_out_wh=out,
        key_index=which,
    )
