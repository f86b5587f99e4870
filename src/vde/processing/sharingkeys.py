"""Sharing keys, dated in versions: from the workbook sheet ``SharingKeys`` or vde.toml.

Sheet ``SharingKeys`` (optional; one row per community, version and member):

=============  ==================================================================
Community      the group installation whose homes share (e.g. ``CDBZ01``)
ValidFrom      local date the version applies from (blank: from the beginning)
Key            ``fixed``, ``fixed-noredistribute``, ``prorata``, ``hybrid``, ``priority``
InstallationId a member home (blank on a ``prorata`` row)
Share          percentage of the member (``fixed``, ``hybrid``; they add up to 100)
Rank           place of the member (``priority``: 1 is served first)
=============  ==================================================================

vde.toml, the same content per community::

    [[sharing_keys.CDBZ01]]
    valid_from = "2026-01-01"
    method = "fixed"            # or fixed-noredistribute, prorata, hybrid, priority
    shares = { CDB001 = 50, CDB002 = 30, CDB003 = 20 }
    # order = ["CDB003", "CDB001"]   (priority)

Pure: no database, clock or logging. Problems name sheet, row, column and value.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from zipfile import BadZipFile

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from vde.processing.sharing import METHODS, SharingKey
from vde.processing.workbook import Problem
from vde.processing.xlsxsafe import archive_problem
from vde.timeutil import BRUSSELS

SHEET_KEYS = "SharingKeys"
KEY_COLUMNS = ("Community", "ValidFrom", "Key", "InstallationId", "Share", "Rank")
KEY_NAMES = (*METHODS, "fixed-noredistribute")


def local_date_ts(d: date) -> int:
    """UTC epoch [s] of local midnight (Europe/Brussels) starting ``d``."""
    return int(datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).timestamp())


def make_key(name: str, valid_from: int, shares: dict[str, float], order: list[str]) -> SharingKey:
    """A SharingKey from a key name of KEY_NAMES; raises ValueError with the reason."""
    if name not in KEY_NAMES:
        raise ValueError(f"unknown key {name!r}: use one of {', '.join(KEY_NAMES)}")
    method = "fixed" if name == "fixed-noredistribute" else name
    return SharingKey(
        method=method,
        shares=dict(shares) if method in ("fixed", "hybrid") else {},
        order=tuple(order) if method == "priority" else (),
        redistribute=name != "fixed-noredistribute",
        valid_from=int(valid_from),
    )


def key_to_json(key: SharingKey) -> dict:
    return {
        "key": key.label(),
        "valid_from": key.valid_from,
        "shares": key.shares,
        "order": list(key.order),
    }


def key_from_json(data: dict) -> SharingKey:
    return make_key(
        data["key"], int(data["valid_from"]), dict(data.get("shares", {})), data.get("order", [])
    )


def keys_to_text(keys: list[SharingKey]) -> str:
    return json.dumps([key_to_json(k) for k in keys], sort_keys=True)


def keys_from_text(text: str) -> list[SharingKey]:
    return [key_from_json(d) for d in json.loads(text)]


# --- vde.toml ---------------------------------------------------------------------------------


def _toml_date(value: Any, where: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, datetime):
        return local_date_ts(value.date())
    if isinstance(value, date):
        return local_date_ts(value)
    try:
        return local_date_ts(date.fromisoformat(str(value)))
    except ValueError:
        raise ValueError(f"{where}: valid_from {value!r} is not a date (use 2026-01-01)") from None


def keys_from_settings(raw: dict[str, list[dict[str, Any]]]) -> dict[str, list[SharingKey]]:
    """Keys per community from the ``sharing_keys`` setting; ValueError names the entry."""
    out: dict[str, list[SharingKey]] = {}
    for community, versions in raw.items():
        keys = []
        for i, v in enumerate(versions, 1):
            where = f"sharing_keys.{community} entry {i}"
            unknown = set(v) - {"valid_from", "method", "shares", "order"}
            if unknown:
                raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            try:
                shares = {str(m): float(p) for m, p in dict(v.get("shares", {})).items()}
                keys.append(
                    make_key(
                        str(v.get("method", "")),
                        _toml_date(v.get("valid_from"), where),
                        shares,
                        [str(m) for m in v.get("order", [])],
                    )
                )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {exc}") from None
        out[community] = _sorted_versions(keys, f"sharing_keys.{community}")
    return out


def _sorted_versions(keys: list[SharingKey], where: str) -> list[SharingKey]:
    keys = sorted(keys, key=lambda k: k.valid_from)
    for a, b in zip(keys, keys[1:], strict=False):
        if a.valid_from == b.valid_from:
            raise ValueError(f"{where}: two key versions start on the same date")
    return keys


# --- workbook sheet ---------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _cell_date(value: Any) -> int | None:
    if value is None or _cell_text(value) == "":
        return 0
    if isinstance(value, datetime):
        return local_date_ts(value.date())
    if isinstance(value, date):
        return local_date_ts(value)
    try:
        return local_date_ts(date.fromisoformat(_cell_text(value)[:10]))
    except ValueError:
        return None


def parse_key_rows(rows: list[tuple[int, dict[str, Any]]]) -> tuple[dict, list[Problem]]:
    """Keys per community from sheet rows ``(excel row, {column: value})``.

    Returns ``({community: [SharingKey, ...]}, problems)``; a community with any error
    gets no keys.
    """
    problems: list[Problem] = []
    groups: dict[tuple[str, int, str], list[tuple[int, dict]]] = defaultdict(list)
    bad: set[str] = set()

    def error(n: int, col: str | None, value: Any, msg: str, hint: str) -> None:
        shown = None if value is None else repr(value)[:40]
        problems.append(Problem("error", SHEET_KEYS, n, col, shown, msg, hint))

    for n, r in rows:
        community = _cell_text(r.get("Community"))
        name = _cell_text(r.get("Key")).lower()
        start = _cell_date(r.get("ValidFrom"))
        if not community:
            error(n, "Community", None, "Community is blank", "name the community's group id")
            continue
        if name not in KEY_NAMES:
            error(n, "Key", r.get("Key"), "unknown key", f"use one of {', '.join(KEY_NAMES)}")
            bad.add(community)
            continue
        if start is None:
            error(n, "ValidFrom", r.get("ValidFrom"), "not a date", "use a date like 2026-01-01")
            bad.add(community)
            continue
        groups[(community, start, name)].append((n, r))
    out: dict[str, list[SharingKey]] = defaultdict(list)
    for (community, start, name), members in groups.items():
        shares: dict[str, float] = {}
        ranks: list[tuple[float, str]] = []
        for n, r in members:
            inst = _cell_text(r.get("InstallationId"))
            if not inst:
                if name != "prorata":
                    error(n, "InstallationId", None, "member is blank", "name a member home")
                    bad.add(community)
                continue
            if inst in shares or inst in {m for _, m in ranks}:
                error(n, "InstallationId", inst, "member listed twice", "keep one row per member")
                bad.add(community)
                continue
            column = "Rank" if name == "priority" else "Share"
            if name == "prorata":
                continue
            try:
                value = float(_cell_text(r.get(column)).rstrip("%"))
            except ValueError:
                error(n, column, r.get(column), f"{column} is not a number", "enter a number")
                bad.add(community)
                continue
            if name == "priority":
                ranks.append((value, inst))
            else:
                shares[inst] = value
        try:
            key = make_key(name, start, shares, [m for _, m in sorted(ranks)])
        except ValueError as exc:
            error(members[0][0], "Key", name, f"community {community}: {exc}", "fix the rows")
            bad.add(community)
            continue
        out[community].append(key)
    result = {}
    for community, keys in out.items():
        if community in bad:
            continue
        try:
            result[community] = _sorted_versions(keys, f"community {community}")
        except ValueError as exc:
            error(None, "ValidFrom", None, str(exc), "give each version its own date")  # type: ignore[arg-type]
    return result, problems


def read_sharing_keys(path: str | Path) -> tuple[dict[str, list[SharingKey]], list[Problem]]:
    """The ``SharingKeys`` sheet of a workbook; ({}, []) when the sheet is absent.

    A file that is not a sane .xlsx archive is one problem, never an exception.
    """
    try:
        unsafe = archive_problem(path)
        if unsafe is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                wb = load_workbook(str(path), read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, ValueError, ParseError, OSError) as exc:
        unsafe = f"not an .xlsx workbook: {type(exc).__name__}"
    if unsafe is not None:
        return {}, [
            Problem(
                "error",
                None,
                None,
                None,
                None,
                f"cannot read {Path(path).name} ({unsafe})",
                "give the .xlsx workbook (Excel 2007+ format)",
            )
        ]
    try:
        names = {n.strip(): n for n in wb.sheetnames}
        if SHEET_KEYS not in names:
            return {}, []
        it = wb[names[SHEET_KEYS]].iter_rows(values_only=True)
        header = [_cell_text(h) for h in next(it, ())]
        missing = [c for c in ("Community", "Key") if c not in header]
        if missing:
            return {}, [
                Problem(
                    "error",
                    SHEET_KEYS,
                    1,
                    col,
                    None,
                    f"column '{col}' is missing",
                    f"add a header cell named exactly '{col}' ({', '.join(KEY_COLUMNS)})",
                )
                for col in missing
            ]
        rows = []
        for n, r in enumerate(it, start=2):
            if any(_cell_text(v) for v in r):
                rows.append((n, {h: r[i] for i, h in enumerate(header) if h and i < len(r)}))
    finally:
        wb.close()
    return parse_key_rows(rows)
