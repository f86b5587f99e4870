"""Configuration lint: wiring mistakes visible from the workbook's Function names and signs.

Pure: rows in, findings out (no data, no database). The rules come from the wiring of
healthy homes in the real fleet: grid clamps (``Mains``, ``Phase L1``, ``L2``, ``Mains
phase 2``…) count in Network only (``X``: +1, ``X-``: -1); PV clamps count in Prod only
(``PV``: -1 or +1 by wiring, ``PV-``: the opposite). Findings:

* ``pv_in_network``: a PV sensor in Network while its home also has grid clamps in
  Network; the grid exchange is then counted twice (consumption goes negative by day);
* ``grid_in_prod``: a grid clamp in Prod (grid exchange is not production);
* ``twins_same_sign``: ``X`` and ``X-`` of one Fluksometer with the same sign in Network
  or Prod (the two directions of one clamp must have opposite signs).

These are warnings, not errors: the real fleet has them and imports. The alert diagnosis
uses the same rules to rank the workbook edits it proposes (``violations``).

Homes and groups: a group's rows are its member homes' rows, so a sensor belongs to the
installation with the fewest rows that lists it (ties: the smallest id); ``home_of``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vde.models import SensorRow

_GRID = re.compile(r"^(mains|main|phase|grid|network|reseau|réseau|net|l[1-3])\b|\bphase\b")
_PV = re.compile(r"^(pv|solar|solaire|zon|inverter|onduleur)")

CODES = ("pv_in_network", "grid_in_prod", "twins_same_sign")


def base_name(function: str) -> str:
    """The Function without its trailing ``-`` (the reverse-direction twin mark)."""
    return function.strip().rstrip("-").strip()


def is_twin(function: str) -> bool:
    """True for the reverse-direction twin (``PV-``, ``Mains phase 1-``)."""
    return function.strip().endswith("-")


def kind_of(function: str) -> str | None:
    """'grid' for grid clamps, 'pv' for production clamps, None when the name says neither."""
    name = base_name(function).lower()
    if _PV.match(name):
        return "pv"
    if _GRID.search(name):
        return "grid"
    return None


def home_of(rows: Iterable[SensorRow]) -> dict[str, str]:
    """sensor id -> its home: the installation with the fewest rows that lists it.

    A group's rows are the union of its members' rows, so the smallest installation
    listing a sensor is its home (ties, as a one-home group: the smallest id).
    """
    size: dict[str, int] = {}
    where: dict[str, set[str]] = {}
    for r in rows:
        size[r.installation_id] = size.get(r.installation_id, 0) + 1
        where.setdefault(r.sensor_id, set()).add(r.installation_id)
    return {sid: min(insts, key=lambda i: (size[i], i)) for sid, insts in where.items()}


def members_of(rows: Iterable[SensorRow], homes: Mapping[str, str]) -> dict[str, list[str]]:
    """installation -> its member homes (a home's only member is itself)."""
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r.installation_id, set()).add(homes.get(r.sensor_id, r.installation_id))
    return {inst: sorted(m) for inst, m in out.items()}


@dataclass(frozen=True)
class LintFinding:
    """One wiring mistake of one installation, safe to print (no token)."""

    installation_id: str
    code: str  # one of CODES
    column: str  # "Network" | "Prod"
    sensor_ids: tuple[str, ...]
    functions: tuple[str, ...]  # as named to people: "PV", or "CDB003 / PV" in a group
    message: str
    hint: str
    # read like a workbook Problem, so an import lists them with its own warnings
    level: str = "warning"
    sheet: str = "Export_InstallationSensors"
    row: int | None = None
    value: str | None = None

    def __str__(self) -> str:
        return f"warning: {self.installation_id}: {self.message} — {self.hint}"


def _label(r: SensorRow, homes: Mapping[str, str]) -> str:
    home = homes.get(r.sensor_id, r.installation_id)
    name = r.function or f"sensor {r.sensor_id}"
    return name if home == r.installation_id else f"{home} / {name}"


def _sign(v: int) -> str:
    return f"{v:+d}"


def _findings(
    rows: Sequence[SensorRow], homes: Mapping[str, str]
) -> list[tuple[str, str, list[SensorRow]]]:
    """(code, column, rows) of every rule broken by one installation's ``rows``."""
    out: list[tuple[str, str, list[SensorRow]]] = []
    by_home: dict[str, list[SensorRow]] = {}
    for r in rows:
        by_home.setdefault(homes.get(r.sensor_id, r.installation_id), []).append(r)
    for home in sorted(by_home):
        hr = by_home[home]
        grid_in_net = any(r.net and kind_of(r.function) == "grid" for r in hr)
        pv_net = [r for r in hr if r.net and kind_of(r.function) == "pv"]
        if pv_net and grid_in_net:
            out.append(("pv_in_network", "Network", pv_net))
        grid_prod = [r for r in hr if r.prod and kind_of(r.function) == "grid"]
        if grid_prod:
            out.append(("grid_in_prod", "Prod", grid_prod))
        pairs: dict[tuple[str, str], dict[bool, SensorRow]] = {}
        for r in hr:
            pairs.setdefault((r.flm_id, base_name(r.function).lower()), {})[is_twin(r.function)] = r
        for key in sorted(pairs):
            pair = pairs[key]
            if len(pair) != 2:
                continue
            x, xm = pair[False], pair[True]
            for column, attr in (("Network", "net"), ("Prod", "prod")):
                a, b = getattr(x, attr), getattr(xm, attr)
                if a and a == b:
                    out.append(("twins_same_sign", column, [x, xm]))
    return out


def lint_installation(
    rows: Sequence[SensorRow], homes: Mapping[str, str] | None = None
) -> list[LintFinding]:
    """The findings of one installation's rows (``homes`` from ``home_of`` of every row)."""
    homes = home_of(rows) if homes is None else homes
    out = []
    for code, column, bad in _findings(rows, homes):
        labels = tuple(_label(r, homes) for r in bad)
        names = " and ".join(labels)
        if code == "pv_in_network":
            vals = ", ".join(f"{_label(r, homes)} {_sign(r.net)}" for r in bad)
            message = (
                f"{names} counted in Network ({vals}) while the home has grid clamps: the "
                "grid exchange is counted twice"
            )
            hint = f"blank Network on {names}"
        elif code == "grid_in_prod":
            vals = ", ".join(f"{_label(r, homes)} {_sign(r.prod)}" for r in bad)
            message = (
                f"grid clamp {names} counted in Prod ({vals}): grid exchange is not production"
            )
            hint = f"blank Prod on {names}"
        else:
            v = getattr(bad[0], "net" if column == "Network" else "prod")
            message = f"twins {names} have the same sign in {column} ({_sign(v)})"
            hint = f"the two directions of one clamp need opposite signs in {column}"
        out.append(
            LintFinding(
                installation_id=bad[0].installation_id,
                code=code,
                column=column,
                sensor_ids=tuple(r.sensor_id for r in bad),
                functions=labels,
                message=message,
                hint=hint,
            )
        )
    return out


def lint(rows: Sequence[SensorRow]) -> list[LintFinding]:
    """Findings of every installation of a configuration, by installation id."""
    homes = home_of(rows)
    by_inst: dict[str, list[SensorRow]] = {}
    for r in rows:
        by_inst.setdefault(r.installation_id, []).append(r)
    return [f for inst in sorted(by_inst) for f in lint_installation(by_inst[inst], homes)]


def violations(rows: Sequence[SensorRow], homes: Mapping[str, str]) -> set[tuple]:
    """Where ``rows`` (one installation) depart from the wiring their Function names imply.

    The lint findings, one per (rule, sensor, column), plus every grid clamp out of Network
    (a grid connection's exchange is import minus export: each direction counts). The
    alert diagnosis ranks its candidate edits by how many remain, and never proposes one
    that adds a departure.
    """
    out = {(code, r.sensor_id, column) for code, column, bad in _findings(rows, homes) for r in bad}
    out |= {
        ("grid_not_in_network", r.sensor_id, "Network")
        for r in rows
        if not r.net and kind_of(r.function) == "grid"
    }
    return out
