"""Energy sharing of a community: balances from stored power, key runs, what-if, indicators.

A community is a group installation (a captioned group of the workbook); its members are
the homes whose sensors are all among the group's sensors (as the dashboard sees them).
Quarter-hour balances are computed from each home's stored 8-s power and kept in
``sharing_quarters``; days younger than ``retry_horizon`` are recomputed on every run
(meters upload late), older days only when missing or with ``refresh``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from vde.errors import SharingError
from vde.logs import get_logger
from vde.models import ConfigVersion, SharingShares
from vde.processing.sharing import (
    QUARTER_S,
    SharingKey,
    SharingResult,
    quarter_balances,
    quarter_grid,
    run_sharing,
)
from vde.processing.sharing_indicators import Indicators, Prices, indicators
from vde.processing.sharingkeys import (
    KEY_NAMES,
    keys_from_settings,
    keys_from_text,
    keys_to_text,
    make_key,
    read_sharing_keys,
)
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.sharing_report import KeyOutcome, RunReport, Simulation
from vde.timeutil import now_ts

log = get_logger(__name__)

DAY_S = 86400
CHUNK_S = 7 * DAY_S
RUN_META = "sharing:run:"
MAX_WINDOW_S = 5 * 366 * DAY_S  # (Q, M) arrays of 60 homes over 5 years: ~100 MB each


def check_window(start: int, end: int) -> None:
    """SharingError unless [start, end) is a window of at most five years."""
    if end <= start:
        raise SharingError("the window is empty: --until must be after --since")
    if end - start > MAX_WINDOW_S:
        raise SharingError("the window is longer than five years: share it in parts")


def prices_of(settings: Settings) -> Prices:
    return Prices(
        shared_eur_kwh=settings.sharing_price_shared,
        supplier_eur_kwh=settings.sharing_price_supplier,
        injection_eur_kwh=settings.sharing_price_injection,
        network_reduction_eur_kwh=settings.sharing_network_reduction,
    )


# --- communities and their members ---------------------------------------------------------------


def community_members(
    store: Store, community_id: str, config: ConfigVersion | None = None
) -> list[str]:
    """Member homes of a community (sorted); SharingError when it is not a known group."""
    config = config if config is not None else store.load_config()
    captions = store.captions()
    if config is None:
        raise SharingError("no configuration imported yet: run `vde config import` first")
    sensors: dict[str, set[str]] = {}
    for r in config.rows:
        sensors.setdefault(r.installation_id, set()).add(r.sensor_id)
    groups = sorted(g for g in captions if sensors.get(g))
    if community_id not in sensors or community_id not in captions:
        raise SharingError(
            f"community {community_id!r} is not a group with sensors in the configuration; "
            f"groups: {', '.join(groups) or 'none'}"
        )
    own = sensors[community_id]
    members = sorted(
        i for i, s in sensors.items() if i not in captions and s and s <= own
    )  # fmt: skip
    if not members:
        raise SharingError(f"community {community_id!r} has no member homes")
    return members


# --- keys --------------------------------------------------------------------------------------


def configured_keys(store: Store, settings: Settings, community_id: str) -> list[SharingKey]:
    """Dated key versions of a community: vde.toml's when it names the community, else the
    workbook's (stored by ``import_keys``); [] when none."""
    try:
        from_toml = keys_from_settings(settings.sharing_keys)
    except ValueError as exc:
        raise SharingError(f"setting sharing_keys: {exc}") from None
    if community_id in from_toml:
        return from_toml[community_id]
    stored = store.sharing_keys().get(community_id)
    if not stored:
        return []
    return keys_from_text(json.dumps([json.loads(spec) for _, spec in stored]))


def check_keys(
    keys: list[SharingKey], members: Sequence[str], community_id: str
) -> list[SharingKey]:
    """``keys``, or SharingError when one names a home that is not a member."""
    from datetime import datetime

    from vde.timeutil import BRUSSELS

    for k in keys:
        strangers = sorted((set(k.shares) | set(k.order)) - set(members))
        if strangers:
            since = (
                datetime.fromtimestamp(k.valid_from, BRUSSELS).date() if k.valid_from else "start"
            )
            raise SharingError(
                f"the {k.label()} key of {community_id} valid from {since} names "
                f"{', '.join(strangers)}, not member(s) of {community_id} "
                f"(members: {', '.join(members)}); fix the SharingKeys sheet or vde.toml"
            )
    return keys


def what_if_key(name: str, members: Sequence[str], configured: Sequence[SharingKey]) -> SharingKey:
    """The key ``name`` for a what-if, with the community's configured percentages or order.

    ``fixed`` and ``hybrid`` use the latest configured percentages (equal shares when none
    are configured); ``priority`` the latest configured order (SharingError when none).
    """
    if name not in KEY_NAMES:
        raise SharingError(f"unknown key {name!r}: use {', '.join(KEY_NAMES)} or configured")
    method = "fixed" if name == "fixed-noredistribute" else name
    shares = next((k.shares for k in reversed(configured) if k.shares), None)
    if method in ("fixed", "hybrid") and shares is None:
        shares = {m: 100.0 / len(members) for m in members}
    order = next((list(k.order) for k in reversed(configured) if k.order), None)
    if method == "priority" and order is None:
        raise SharingError(
            "no priority order configured for this community (SharingKeys or vde.toml)"
        )
    return make_key(name, 0, shares or {}, order or [])


def _what_if_note(key: SharingKey, configured: Sequence[SharingKey]) -> str:
    if key.method in ("fixed", "hybrid"):
        if any(k.shares for k in configured):
            return "the latest configured percentages"
        return "equal percentages (none configured)"
    if key.method == "priority":
        return "order " + ", ".join(key.order)
    return ""


def import_keys(store: Store, path: str, *, dry_run: bool = False) -> dict[str, int]:
    """Store the ``SharingKeys`` sheet of a workbook: {community: versions}; nothing when absent.

    Raises SharingError listing every problem; then nothing is written.
    """
    keys, problems = read_sharing_keys(path)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise SharingError(
            f"sheet SharingKeys: {len(errors)} error(s), no key imported:\n  "
            + "\n  ".join(str(p) for p in errors)
        )
    if not dry_run and keys:
        store.create_schema(["sharing_keys"])  # a database from before energy sharing
        for community, versions in keys.items():
            store.replace_sharing_keys(
                community,
                [(k.valid_from, json.dumps(json.loads(keys_to_text([k]))[0])) for k in versions],
            )
            log.info("sharing_keys_imported", community=community, versions=len(versions))
    return {c: len(v) for c, v in keys.items()}


# --- balances ----------------------------------------------------------------------------------


def update_balances(
    store: Store,
    homes: Sequence[str],
    start: int,
    end: int,
    *,
    refresh: bool = False,
    fresh_s: int = 2 * DAY_S,
    now: int | None = None,
) -> int:
    """Compute and store the quarter balances of ``homes`` where they are missing.

    A UTC day is (re)computed when it has no stored row, when it ends less than
    ``fresh_s`` ago, or always with ``refresh``. Returns the number of quarters written.
    """
    now = now_ts() if now is None else now
    grid = quarter_grid(start, end)
    if not len(grid):
        return 0
    days = np.unique(grid // DAY_S)
    stored = store.read_quarters(homes, int(days[0]) * DAY_S, (int(days[-1]) + 1) * DAY_S)
    written = 0
    for home in homes:
        have = (
            set()
            if refresh
            else set((stored[home].ts // DAY_S).tolist())
            if home in stored
            else set()
        )
        todo = [d for d in days.tolist() if d not in have or (d + 1) * DAY_S > now - fresh_s]
        for a, b in _spans(todo):
            for s in range(a * DAY_S, b * DAY_S, CHUNK_S):
                e = min(s + CHUNK_S, b * DAY_S)
                power = store.read_power(home, s - 8, e)  # the slot before may straddle s
                bal = quarter_balances(power.ts, power.p_tot, s, e)
                with_data = np.isin(bal.ts // DAY_S, np.unique(bal.ts[bal.covered_s > 0] // DAY_S))
                if with_data.any():
                    sel = type(bal)(
                        bal.ts[with_data],
                        bal.offtake_wh[with_data],
                        bal.injection_wh[with_data],
                        bal.covered_s[with_data],
                    )
                    written += store.write_quarters(home, sel)
    log.info("sharing_balances_updated", homes=len(homes), quarters=written)
    return written


def _spans(days: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive day numbers as [first, last + 1)."""
    out: list[tuple[int, int]] = []
    for d in days:
        if out and out[-1][1] == d:
            out[-1] = (out[-1][0], d + 1)
        else:
            out.append((d, d + 1))
    return out


def load_matrix(
    store: Store, members: Sequence[str], start: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quarter grid of [start, end) and (Q, M) offtake, injection, covered_s (one read)."""
    grid = quarter_grid(start, end)
    q, m = len(grid), len(members)
    off, inj = np.zeros((q, m)), np.zeros((q, m))
    cov = np.zeros((q, m), np.int64)
    stored = store.read_quarters(members, int(grid[0]) if q else start, end)
    for j, home in enumerate(members):
        b = stored.get(home)
        if b is None or not len(b):
            continue
        keep = (b.ts >= grid[0]) & (b.ts <= grid[-1])
        pos = (b.ts[keep] - grid[0]) // QUARTER_S
        off[pos, j], inj[pos, j], cov[pos, j] = (
            b.offtake_wh[keep],
            b.injection_wh[keep],
            b.covered_s[keep],
        )
    return grid, off, inj, cov


# --- what-if and runs ------------------------------------------------------------------------


def simulate(
    store: Store,
    settings: Settings,
    community_id: str,
    key_names: Sequence[str],
    start: int,
    end: int,
    *,
    refresh: bool = False,
) -> Simulation:
    """Compare keys on the community's history in [start, end); stores balances only."""
    check_window(start, end)
    members = community_members(store, community_id)
    configured = check_keys(configured_keys(store, settings, community_id), members, community_id)
    keys: list[tuple[str, list[SharingKey], str]] = []
    for name in key_names:
        if name == "configured":
            if not configured:
                raise SharingError(
                    f"no key configured for {community_id} (SharingKeys or vde.toml)"
                )
            keys.append((name, configured, f"{len(configured)} dated version(s)"))
        else:
            key = what_if_key(name, members, configured)
            keys.append((name, [key], _what_if_note(key, configured)))
    update_balances(store, members, start, end, refresh=refresh, fresh_s=settings.retry_horizon)
    grid, off, inj, cov = load_matrix(store, members, start, end)
    out = Simulation(community_id, int(start), int(end), members)
    prices = prices_of(settings)
    for name, versions, note in keys:
        result = run_sharing(members, grid, off, inj, cov, versions)
        out.outcomes.append(KeyOutcome(name, indicators(result, prices, "all"), note))
    log.info("sharing_simulated", community=community_id, keys=len(keys), quarters=len(grid))
    return out


def run(
    store: Store,
    settings: Settings,
    community_id: str,
    start: int,
    end: int,
    *,
    refresh: bool = False,
) -> RunReport:
    """Share [start, end) with the community's configured dated keys and store the results."""
    check_window(start, end)
    members = community_members(store, community_id)
    keys = check_keys(configured_keys(store, settings, community_id), members, community_id)
    if not keys:
        raise SharingError(
            f"no key configured for {community_id}: add a SharingKeys sheet to the workbook "
            "(vde sharing keys import) or [[sharing_keys." + community_id + "]] to vde.toml"
        )
    update_balances(store, members, start, end, refresh=refresh, fresh_s=settings.retry_horizon)
    grid, off, inj, cov = load_matrix(store, members, start, end)
    result = run_sharing(members, grid, off, inj, cov, keys)
    store.delete_sharing(community_id, int(grid[0]), int(grid[-1]) + QUARTER_S)
    store.write_sharing(community_id, shares_of(result))
    report = RunReport(
        community_id,
        int(grid[0]),
        int(grid[-1]) + QUARTER_S,
        len(members),
        len(grid),
        round(float(result.shared_wh.sum()) / 1000, 3),
        [k.label() for k in keys],
    )
    store.set_meta(RUN_META + community_id, json.dumps({**report.to_json(), "at": now_ts()}))
    log.info("sharing_run", **report.to_json())
    return report


def shares_of(result: SharingResult) -> SharingShares:
    return SharingShares(
        members=result.members,
        ts=result.ts,
        received_wh=result.received_wh,
        shared_out_wh=result.shared_out_wh,
    )


def stored_result(store: Store, community_id: str, start: int, end: int) -> SharingResult:
    """A stored run's results joined with the stored balances, over [start, end)."""
    check_window(start, end)
    shares = store.read_sharing(community_id, start, end)
    if not len(shares):
        raise SharingError(
            f"no stored sharing results for {community_id} in this period: run `vde sharing run`"
        )
    members = list(shares.members)
    grid, off, inj, cov = load_matrix(store, members, start, end)
    pos = np.searchsorted(grid, shares.ts)
    return SharingResult(
        members=tuple(members),
        ts=shares.ts,
        offtake_wh=off[pos],
        injection_wh=inj[pos],
        covered_s=cov[pos],
        received_wh=shares.received_wh,
        shared_out_wh=shares.shared_out_wh,
        key_index=np.zeros(len(shares.ts), np.int64),
    )


def stored_indicators(
    store: Store, settings: Settings, community_id: str, start: int, end: int, period: str
) -> Indicators:
    """Indicators per local day, month or year of a stored run."""
    result = stored_result(store, community_id, start, end)
    return indicators(result, prices_of(settings), period)
