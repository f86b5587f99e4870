"""Energy received from the community ("from neighbours") per energy bar of a home.

Read from the stored results of ``vde sharing run`` (``Store.read_sharing``) of every
community the home belongs to, so the bars need no recomputation. A bar without any
stored quarter is None (null): no sharing result, not 0 kWh. What the home imported from
its supplier is then ``imported − received``, so the stacked bar still sums to consumption.
"""

from __future__ import annotations

import numpy as np

from vde.processing.sharing_indicators import Prices
from vde.storage.base import Store
from vde.web.installations import Installation


def received_per_bar(
    store: Store, home_id: str, communities: tuple[str, ...], ts: np.ndarray, end: np.ndarray
) -> np.ndarray | None:
    """kWh received per bar ``[ts[i], end[i])``, NaN where no quarter is stored; None when
    no community of the home has stored results in the bars' window."""
    if not len(ts):
        return None
    lo, hi = int(ts[0]), int(end[-1])
    kwh = np.zeros(len(ts))
    seen = np.zeros(len(ts), bool)
    for community in communities:
        shares = store.read_sharing(community, lo, hi)
        if not len(shares) or home_id not in shares.members:
            continue
        col = shares.received_wh[:, shares.members.index(home_id)]
        q = np.asarray(shares.ts, np.int64)
        bar = np.searchsorted(ts, q, side="right") - 1
        ok = (bar >= 0) & (q < end[np.clip(bar, 0, len(ts) - 1)])
        np.add.at(kwh, bar[ok], col[ok] / 1000.0)
        seen[bar[ok]] = True
    if not seen.any():
        return None
    return np.where(seen, kwh, np.nan)


def neighbours_json(
    received: np.ndarray, imported: np.ndarray, prices: Prices
) -> tuple[dict, dict]:
    """Per-bar fields and totals: from neighbours, from the supplier [kWh], € saved."""
    supplier = np.where(np.isnan(received), imported, imported - np.nan_to_num(received))
    eur = received * prices.consumer_eur_kwh
    bars = {
        "from_neighbours_kwh": np.round(received, 3) + 0.0,
        "from_supplier_kwh": np.round(supplier, 3) + 0.0,
        "from_neighbours_eur": np.round(eur, 2) + 0.0,
    }
    total_r = float(np.nansum(received))
    total_i = float(np.nansum(imported)) if not np.isnan(imported).all() else None
    totals = {
        "from_neighbours_kwh": round(total_r, 3),
        "from_supplier_kwh": None if total_i is None else round(total_i - total_r, 3),
        "from_neighbours_eur": round(total_r * prices.consumer_eur_kwh, 2),
    }
    return bars, totals


def sharing_links(store: Store, inst: Installation, known: dict[str, Installation]) -> list[dict]:
    """Communities whose sharing page the dashboard links to: the group itself, or a home's
    groups the session may see (``inst`` comes from ``visible``), with a stored run."""
    from vde.sync.sharing import RUN_META

    ids = [inst.installation_id] if inst.kind == "group" else list(inst.groups)
    return [
        {"id": c, "caption": known[c].caption if c in known else c}
        for c in ids
        if store.get_meta(RUN_META + c) is not None
    ]
