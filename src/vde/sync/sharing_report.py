"""What a sharing what-if or run reports, as JSON (the CLI prints tables from it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vde.processing.sharing_indicators import Indicators


@dataclass
class KeyOutcome:
    """One key's indicators over the whole window."""

    key: str
    totals: Indicators  # period "all"
    note: str = ""  # where the key's percentages or order came from

    def to_json(self) -> dict:
        t = self.totals
        spread, std = t.fairness()
        members = []
        for j, m in enumerate(t.members):
            members.append(
                {
                    "member": m,
                    "offtake_kwh": round(float(t.offtake_wh[0, j]) / 1000, 3),
                    "injection_kwh": round(float(t.injection_wh[0, j]) / 1000, 3),
                    "received_kwh": round(float(t.received_wh[0, j]) / 1000, 3),
                    "shared_out_kwh": round(float(t.shared_out_wh[0, j]) / 1000, 3),
                    "saved_eur": round(float(t.saved_eur[0, j]), 2),
                    "coverage": round(float(t.coverage[0, j]), 4),
                    "flagged_quarters": int(t.flagged_quarters[0, j]),
                }
            )
        return {
            "key": self.key,
            "note": self.note,
            "members": members,
            "totals": {
                "offtake_kwh": round(float(t.offtake_wh.sum()) / 1000, 3),
                "injection_kwh": round(float(t.injection_wh.sum()) / 1000, 3),
                "shared_kwh": round(float(t.shared_wh[0]) / 1000, 3),
                "saved_eur": round(float(t.saved_eur.sum()), 2),
                "collective_self_consumption": _num(t.collective_self_consumption()[0]),
                "self_sufficiency": _num(t.self_sufficiency()[0]),
            },
            "fairness": {"spread_eur_per_kwh": _num(spread[0]), "std_eur_per_kwh": _num(std[0])},
        }


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


@dataclass
class Simulation:
    community: str
    start: int
    end: int
    members: list[str]
    outcomes: list[KeyOutcome] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "community": self.community,
            "start": self.start,
            "end": self.end,
            "members": self.members,
            "keys": [o.to_json() for o in self.outcomes],
        }


@dataclass
class RunReport:
    community: str
    start: int
    end: int
    members: int
    quarters: int
    shared_kwh: float
    keys: list[str]

    def to_json(self) -> dict:
        return self.__dict__.copy()
