"""One alert per cause: a group alert that only repeats its members' is folded into theirs.

A group's rows are its member homes' rows, so a home's wrong sign or silent sensor shows
in every group that lists the home. Rules, for the alerts of one day:

* a home's fix is extended to the same cells of every group that lists its sensors with
  the same value (the workbook repeats the mistake there; fixing the home alone would
  leave the groups wrong);
* a group ``sign``/``night`` alert is dropped when every member home whose own rows make
  the group's day incoherent (``details["homes"]``, from the diagnosis) has its own alert
  and the group lists that home's sensors with the same signs: its members' alerts name
  the cause and carry the group's edits;
* a group ``missing`` alert whose sensors without data are all named by its members'
  ``missing`` alerts is dropped.

The member alerts list the groups they stand for in ``details["also_in"]``. A group alert
with a cause of its own (a sign wrong only in the group's rows, or no fix found) stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vde.models import Alert, SensorRow

_COLUMN_ATTR = {"Network": "net", "Prod": "prod"}


def _is_group(inst: str, members: Mapping[str, list[str]]) -> bool:
    return members.get(inst, [inst]) != [inst]


def fold_groups(
    alerts: Sequence[Alert], rows: Sequence[SensorRow], homes: Mapping[str, str]
) -> list[Alert]:
    """The alerts of one day with group alerts folded into their members' (see module doc).

    ``rows`` are every row of the configuration, ``homes`` its ``configlint.home_of``.
    Member alerts are changed in place (their fix and ``also_in``); the order is kept.
    """
    members: dict[str, set[str]] = {}
    cell: dict[tuple[str, str], SensorRow] = {}
    for r in rows:
        members.setdefault(r.installation_id, set()).add(homes.get(r.sensor_id, r.installation_id))
        cell[(r.installation_id, r.sensor_id)] = r
    groups_of: dict[str, list[str]] = {}
    for inst, m in sorted(members.items()):
        if m != {inst}:
            for home in m:
                groups_of.setdefault(home, []).append(inst)
    member_list = {inst: sorted(m) for inst, m in members.items()}
    signs: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        signs.setdefault(r.installation_id, {})[r.sensor_id] = (r.net, r.prod)

    def same_rows(group: str, home: str) -> bool:
        """The group lists the home's sensors with the home's own signs."""
        own = signs.get(home, {})
        return all(signs.get(group, {}).get(sid) == v for sid, v in own.items())

    by_home: dict[tuple[str, str], list[Alert]] = {}
    for a in alerts:
        if _is_group(a.installation_id, member_list):
            continue
        by_home.setdefault((a.kind, a.installation_id), []).append(a)
        for e in list(a.details.get("fix") or []):
            for g in groups_of.get(a.installation_id, []):
                r = cell.get((g, e["sensor_id"]))
                if r is None or getattr(r, _COLUMN_ATTR[e["column"]]) != e["from"]:
                    continue
                name = f"{a.installation_id} / {e['function']}"
                a.details["fix"].append({**e, "installation": g, "function": name})
    out: list[Alert] = []
    folded: dict[int, set[str]] = {}  # id(member alert) -> groups folded into it
    for a in alerts:
        if not _is_group(a.installation_id, member_list):
            out.append(a)
            continue
        into = _covering(a, member_list[a.installation_id], by_home, same_rows)
        if into is None:
            out.append(a)
            continue
        for m in into:
            folded.setdefault(id(m), set()).add(a.installation_id)
    for a in out:
        groups = folded.get(id(a))
        if groups:
            a.details["also_in"] = sorted(groups)
            a.details["action"] = (
                f"{a.details.get('action', '')} (also shows in "
                f"{', '.join(sorted(groups))}, whose rows repeat this home's)"
            )
    return out


def _covering(
    a: Alert,
    homes: list[str],
    by_home: Mapping[tuple[str, str], list[Alert]],
    same_rows,
) -> list[Alert] | None:
    """The member alerts that a group alert only repeats, or None when it has its own cause."""
    if a.kind == "missing":
        culprits = set(a.details.get("sensor_ids") or [])
        if not culprits:
            return None
        into = []
        for home in homes:
            for m in by_home.get(("missing", home), []):
                named = culprits & set(m.details.get("sensor_ids") or [])
                if named:
                    into.append(m)
                    culprits -= named
        return into if not culprits else None
    # sign/night: every member whose rows make the group incoherent alerted itself, and
    # the group lists those rows with the same signs (the same workbook mistake)
    culprits = a.details.get("homes") or []
    if not culprits:
        return None
    into = []
    for home in culprits:
        mine = [m for kind in ("sign", "night") for m in by_home.get((kind, home), [])]
        if not mine or not same_rows(a.installation_id, home):
            return None
        into += mine
    return into
