"""A small community written through the Store (helpers of the sharing tests).

Community CDBZ01: producer P1 exports 500 W from 10:00 to 14:00 UTC (import 100 W
otherwise); consumers C1, C2, C3 import 300, 600 and 900 W all the time; C3 has no data
for the first 448 s (56 slots) of the window. Constant power over whole quarters makes
every quarter's energy ``P · 900 / 3600`` [Wh], so the expected numbers are by hand.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass

import numpy as np

from vde.models import ConfigVersion, PowerSeries, SensorRow
from vde.storage import Store

T0 = 20_420 * 86400  # 2025-11-28 00:00 UTC
DAYS = 2
HOMES = {"P1": "a1" * 16, "C1": "c1" * 16, "C2": "c2" * 16, "C3": "c3" * 16}
CONSUMPTION_W = {"C1": 300.0, "C2": 600.0, "C3": 900.0}
PRODUCER_W = -500.0
GAP_S = 448


@dataclass(frozen=True)
class Community:
    start: int
    end: int
    members: tuple[str, ...]

    def producing(self, ts: np.ndarray) -> np.ndarray:
        hour = (ts % 86400) // 3600
        return (hour >= 10) & (hour < 14)


def _row(inst: str, sid: str) -> SensorRow:
    return SensorRow(inst, sid, "f" * 32, "FL1", "Mains", 1, 0, 1, 0, 0)


def write_community(store: Store) -> Community:
    rows = [_row(h, s) for h, s in HOMES.items()] + [_row("CDBZ01", s) for s in HOMES.values()]
    store.save_config_version(ConfigVersion(version_id=1_700_000_000_000_000, rows=tuple(rows)))
    store.replace_captions({"CDBZ01": "Quartier – toutes les maisons"})
    c = Community(T0, T0 + DAYS * 86400, tuple(sorted(HOMES)))
    ts = np.arange(c.start, c.end, 8, dtype=np.int64)
    for home in HOMES:
        if home == "P1":
            p = np.where(c.producing(ts), PRODUCER_W, 100.0)
            t = ts
        else:
            t = ts[ts >= c.start + GAP_S] if home == "C3" else ts
            p = np.full(len(t), CONSUMPTION_W[home])
        store.write_power(home, PowerSeries(ts=t, p_cons=p, p_prod=np.zeros(len(t)), p_tot=p), 1)
    return c


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.rcpts: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"
