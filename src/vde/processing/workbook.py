"""The configuration workbook (Configuration.xlsx): read, validate, write.

Pure: no database, no clock, no logging. ``read_workbook`` returns the parsed rows, access
pairs and captions together with every problem found (errors and warnings); the caller
decides what to do with them. Excel header names are mapped to ours in one place
(``SENSOR_COLUMNS``). Sensor tokens are secrets: no message here ever contains one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from zipfile import BadZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

from vde.logs import mask
from vde.models import NO_START_TS, SensorRow
from vde.processing.xlsxsafe import (
    CAPTION_MAX,
    FUNCTION_MAX,
    ID_MAX,
    ID_RE,
    LOGIN_MAX,
    MAX_ROWS,
    archive_problem,
    control_chars,
    stream_rows,
)
from vde.timeutil import BRUSSELS

SHEET_SENSORS = "Export_InstallationSensors"
SHEET_ACCESS = "Export_Access"
SHEET_CAPTIONS = "InstallationCaptions"

#: Excel header -> SensorRow field (the one place outside names meet ours).
SENSOR_COLUMNS: dict[str, str] = {
    "InstallationId": "installation_id",
    "StartDate": "start_ts",
    "FlmId": "flm_id",
    "Function": "function",
    "Network": "net",
    "Prod": "prod",
    "Cons": "cons",
    "VE": "ve",
    "SensorId": "sensor_id",
    "Token": "token",
}
ACCESS_COLUMNS: tuple[str, ...] = ("Login", "InstallationId")
CAPTION_COLUMNS: tuple[str, ...] = ("InstallationId", "Caption")

SIGN_COLUMNS: tuple[str, ...] = ("Network", "Prod", "Cons", "VE")


def ts_to_excel(ts: int) -> datetime:
    """UTC epoch seconds -> the naive Europe/Brussels datetime Excel stores."""
    return datetime.fromtimestamp(ts, UTC).astimezone(BRUSSELS).replace(tzinfo=None)


def excel_to_ts(value: datetime) -> int:
    """An Excel datetime (naive = Europe/Brussels local time) -> UTC epoch seconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=BRUSSELS)
    return int(value.timestamp())


def _sign_cell(sign: int, *, text: bool = False) -> int | str | None:
    # The real workbook leaves zero signs blank and stores VE as text.
    if sign == 0:
        return None
    return str(sign) if text else sign


def write_workbook(
    path: str | Path,
    rows: list[SensorRow],
    access: list[tuple[str, str]],
    captions: dict[str, str],
) -> None:
    """Write a workbook shaped like the real Configuration.xlsx.

    Parameters
    ----------
    path : str or Path
        Destination .xlsx file (overwritten).
    rows : list of SensorRow
        One sheet row per (installation, sensor); signs 0 are written as blank cells, VE as
        the text '1'/'-1', StartDate as a naive Europe/Brussels datetime (blank for
        ``NO_START_TS``).
    access : list of (login, installation_id)
        Rows of the Export_Access sheet.
    captions : dict
        installation_id -> caption, rows of the InstallationCaptions sheet.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_SENSORS
    ws.append(list(SENSOR_COLUMNS))
    for r in rows:
        ws.append(
            [
                r.installation_id,
                None if r.start_ts == NO_START_TS else ts_to_excel(r.start_ts),
                r.flm_id,
                r.function,
                _sign_cell(r.net),
                _sign_cell(r.prod),
                _sign_cell(r.cons),
                _sign_cell(r.ve, text=True),
                r.sensor_id,
                r.token,
            ]
        )
    wa = wb.create_sheet(SHEET_ACCESS)
    wa.append(list(ACCESS_COLUMNS))
    for login, inst in access:
        wa.append([login, inst])
    wc = wb.create_sheet(SHEET_CAPTIONS)
    wc.append(list(CAPTION_COLUMNS))
    for inst, caption in captions.items():
        wc.append([inst, caption])
    wb.save(str(path))


# --- reading and validation ------------------------------------------------------------

#: The parts of a workbook, as ``vde config import --only`` names them.
PARTS: dict[str, str] = {
    "sensors": SHEET_SENSORS,
    "access": SHEET_ACCESS,
    "captions": SHEET_CAPTIONS,
}

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Problem:
    """One problem of a workbook, with its coordinates and what to do about it.

    ``row`` is the Excel row number (header = 1); ``value`` is safe to print (a token is
    always masked).
    """

    level: str  # "error" | "warning"
    sheet: str | None
    row: int | None
    column: str | None
    value: str | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = [p for p in (self.sheet, f"row {self.row}" if self.row else None) if p]
        if self.column:
            where.append(f"column {self.column}")
        if self.value is not None:
            where.append(f"value {self.value}")
        text = (
            f"{self.level}: {', '.join(where)}: {self.message}"
            if where
            else f"{self.level}: {self.message}"
        )
        return f"{text} — {self.hint}" if self.hint else text


@dataclass
class ParsedWorkbook:
    """What a workbook holds, with every problem found. Only use the data if ``ok``."""

    rows: list[SensorRow] = field(default_factory=list)
    access: list[tuple[str, str]] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    parts: tuple[str, ...] = tuple(PARTS)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _col(index: int) -> str:
    """Excel column letters of a 0-based column index."""
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _show(value: Any) -> str:
    """A cell value as it may appear in a message (short, quoted text)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _is_hex32(text: str) -> bool:
    return len(text) == 32 and all(c in _HEX for c in text)


class _Sheet:
    """Rows of one sheet, its header mapped to column indexes; problems go to ``out``."""

    def __init__(self, name: str, ws: Any, required: tuple[str, ...], out: list[Problem]):
        self.name = name
        self.out = out
        rows = stream_rows(ws)
        first = next(rows, None)
        header = first[1] if first is not None and first[0] == 1 else ()
        self.index = {}
        for i, h in enumerate(header):
            key = _text(h)
            if key in self.index and key in required:
                # which of the two is meant is a guess: refuse rather than pick one
                self.error(
                    1,
                    key,
                    None,
                    f"column '{key}' appears twice in row 1 "
                    f"(columns {_col(self.index[key])} and {_col(i)})",
                    "delete or rename one of the two columns",
                )
            if key and key not in self.index:
                self.index[key] = i
        self.missing = [c for c in required if c not in self.index]
        for col in self.missing:
            self.error(
                1,
                col,
                None,
                f"column '{col}' is missing",
                f"add a header cell named exactly '{col}' in row 1 "
                f"(found: {', '.join(self.index) or 'no headers'})",
            )
        if any(p.level == "error" and p.sheet == name and p.row == 1 for p in out):
            self.missing.append("(duplicated)")  # header unusable: do not read the rows
        # Row numbers as Excel shows them; fully blank rows (Excel leftovers) are skipped.
        self.rows: list[tuple[int, tuple]] = []
        for n, r in rows:
            if not any(_text(v) for v in r):
                continue
            if len(self.rows) >= MAX_ROWS - 1:
                self.error(
                    n,
                    None,
                    None,
                    f"sheet has more than {MAX_ROWS - 1:,} rows",
                    "a configuration is far smaller: check that this is the right file",
                )
                self.missing.append("(too many rows)")
                break
            self.rows.append((n, r))

    def cell(self, row: tuple, column: str) -> Any:
        i = self.index[column]
        return row[i] if i < len(row) else None

    def error(
        self, row: int | None, column: str | None, value: str | None, message: str, hint: str = ""
    ) -> None:
        self.out.append(Problem("error", self.name, row, column, value, message, hint))

    def warning(
        self, row: int | None, column: str | None, value: str | None, message: str, hint: str = ""
    ) -> None:
        self.out.append(Problem("warning", self.name, row, column, value, message, hint))


def _parse_sign(sh: _Sheet, n: int, column: str, value: Any) -> int | None:
    """-1, 0 (blank) or 1; None (reported) when the cell holds anything else."""
    text = _text(value)
    if text == "":
        return 0
    try:
        sign = int(text) if isinstance(value, str) else int(value)
        exact = float(text) == sign
    except (TypeError, ValueError):
        sign, exact = 2, False
    if not exact or sign not in (-1, 0, 1):
        sh.error(
            n,
            column,
            _show(value),
            f"{column} in row {n} is {_show(value)}, not a sign",
            "use -1, 1 or leave the cell blank (= 0)",
        )
        return None
    return sign


def _parse_start(sh: _Sheet, n: int, value: Any) -> int:
    """UTC epoch [s] of a StartDate cell; ``NO_START_TS`` when blank (no start limit)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return NO_START_TS
    if isinstance(value, datetime):
        return excel_to_ts(value)
    if isinstance(value, date):
        return excel_to_ts(datetime(value.year, value.month, value.day))
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return excel_to_ts(from_excel(value))  # a date cell without date formatting
        if isinstance(value, str) and value.strip():
            return excel_to_ts(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):
        pass  # reported below like any other non-date
    sh.error(
        n,
        "StartDate",
        _show(value),
        f"StartDate in row {n} is not a date",
        "enter the date the sensor started counting for this installation, e.g. 2021-03-01, "
        "or leave the cell blank (no start limit)",
    )
    return NO_START_TS


def _check_text(
    sh: _Sheet, n: int, column: str, raw: Any, *, limit: int, safe_id: bool = False
) -> bool:
    """Report a text cell that is too long, holds control characters or (ids) unsafe ones.

    Control characters are looked for in the raw cell: a trailing tab or line break is an
    error, not something to strip silently.
    """
    text = _text(raw)
    bad = control_chars(raw) if isinstance(raw, str) else []
    if bad:
        sh.error(
            n,
            column,
            _show(raw),
            f"{column} in row {n} contains control character(s) {', '.join(bad[:5])}",
            "retype the cell: line breaks, tabs and invisible characters are not allowed",
        )
        return False
    if len(text) > limit:
        sh.error(
            n,
            column,
            _show(text),
            f"{column} in row {n} is {len(text)} characters long, at most {limit} allowed",
            f"shorten it to {limit} characters or fewer",
        )
        return False
    if safe_id and text and not ID_RE.fullmatch(text):
        sh.error(
            n,
            column,
            _show(text),
            f"{column} in row {n} has characters other than letters, digits, '-', '_' and '.'",
            "ids are used in links and file names: use e.g. CDB001",
        )
        return False
    return True


def _parse_id(sh: _Sheet, n: int, column: str, value: Any, *, secret: bool) -> str:
    text = _text(value)
    if _is_hex32(text):
        return text
    shown = mask(text) if secret else _show(value)
    what = "token" if secret else "sensor id"
    if not text:
        sh.error(
            n,
            column,
            "blank",
            f"{column} in row {n} is empty",
            f"copy the 32-hex-character {what} from Flukso",
        )
    elif len(text) != 32:
        sh.error(
            n,
            column,
            shown,
            f"{column} in row {n} is {len(text)} characters, expected 32 hex",
            f"copy the whole {what} from Flukso (no spaces, no quotes)",
        )
    else:
        sh.error(
            n,
            column,
            shown,
            f"{column} in row {n} has non-hex characters, expected 32 hex (0-9, a-f)",
            f"copy the {what} from Flukso again",
        )
    return text


def _read_sensors(sh: _Sheet) -> list[SensorRow]:
    rows: list[SensorRow] = []
    first_row: dict[tuple[str, str], int] = {}
    token_of: dict[str, tuple[str, int]] = {}
    bad_net: set[str] = set()
    no_start: dict[str, list[int]] = {}
    for n, r in sh.rows:
        inst = _text(sh.cell(r, "InstallationId"))
        if not inst:
            sh.error(
                n,
                "InstallationId",
                "blank",
                f"InstallationId in row {n} is empty",
                "enter the home or group id, e.g. CDB001",
            )
        _check_text(
            sh, n, "InstallationId", sh.cell(r, "InstallationId"), limit=ID_MAX, safe_id=True
        )
        flm_id = _text(sh.cell(r, "FlmId"))
        _check_text(sh, n, "FlmId", sh.cell(r, "FlmId"), limit=ID_MAX, safe_id=True)
        function = _text(sh.cell(r, "Function"))
        _check_text(sh, n, "Function", sh.cell(r, "Function"), limit=FUNCTION_MAX)
        sensor_id = _parse_id(sh, n, "SensorId", sh.cell(r, "SensorId"), secret=False)
        token = _parse_id(sh, n, "Token", sh.cell(r, "Token"), secret=True)
        signs = {c: _parse_sign(sh, n, c, sh.cell(r, c)) for c in SIGN_COLUMNS}
        if signs["Network"] is None:
            bad_net.add(inst)  # already reported: no second "no Network sensor" error
        start_cell = sh.cell(r, "StartDate")
        start_ts = _parse_start(sh, n, start_cell)
        if _text(start_cell) == "":
            no_start.setdefault(inst, []).append(n)
        key = (inst, sensor_id)
        if inst and sensor_id and key in first_row:
            sh.error(
                n,
                "SensorId",
                sensor_id,
                f"sensor {sensor_id} is listed twice for installation {inst} (rows {first_row[key]} and {n})",
                "delete one of the two rows",
            )
        first_row.setdefault(key, n)
        if _is_hex32(sensor_id) and _is_hex32(token):
            seen = token_of.setdefault(sensor_id, (token, n))
            if seen[0] != token:
                sh.error(
                    n,
                    "Token",
                    mask(token),
                    f"sensor {sensor_id} has a different token in row {n} than in row {seen[1]}",
                    "a sensor has one token: copy the right one into every row of this sensor",
                )
        rows.append(
            SensorRow(
                installation_id=inst,
                sensor_id=sensor_id,
                token=token,
                flm_id=flm_id,
                function=function,
                net=signs["Network"] or 0,
                prod=signs["Prod"] or 0,
                cons=signs["Cons"] or 0,
                ve=signs["VE"] or 0,
                start_ts=start_ts,
            )
        )
    _check_network(sh, rows, bad_net)
    _warn_no_start(sh, no_start)
    return rows


def _warn_no_start(sh: _Sheet, no_start: dict[str, list[int]]) -> None:
    # One warning per installation: the real workbook leaves every row of some homes blank.
    for inst, ns in no_start.items():
        shown = ", ".join(map(str, ns[:10])) + (", ..." if len(ns) > 10 else "")
        sh.warning(
            ns[0],
            "StartDate",
            "blank",
            f"installation {inst}: StartDate blank in row(s) {shown}: no start limit",
            "its sensors count from their first data; sync backfills them over "
            "backfill_horizon like any new sensor",
        )


def _check_network(sh: _Sheet, rows: list[SensorRow], skip: set[str]) -> None:
    # Without a Network sensor an installation's total (grid) power is always 0: a typo.
    lines: dict[str, list[int]] = {}
    has_net: set[str] = set()
    for (n, _), row in zip(sh.rows, rows, strict=True):
        lines.setdefault(row.installation_id, []).append(n)
        if row.net != 0:
            has_net.add(row.installation_id)
    for inst, ns in lines.items():
        if inst and inst not in has_net and inst not in skip:
            shown = ", ".join(map(str, ns[:10])) + (", ..." if len(ns) > 10 else "")
            sh.error(
                ns[0],
                "Network",
                "blank",
                f"installation {inst} has no Network sensor (row(s) {shown}: Network blank or 0)",
                "set Network to 1 or -1 on the sensor(s) measuring the grid connection",
            )


#: Limits of the text columns of the access and captions sheets: (length, id-safe).
_PAIR_LIMITS: dict[str, tuple[int, bool]] = {
    "Login": (LOGIN_MAX, False),
    "InstallationId": (ID_MAX, True),
    "Caption": (CAPTION_MAX, False),
}


def _read_pairs(sh: _Sheet, columns: tuple[str, str]) -> list[tuple[int, str, str]]:
    out = []
    for n, r in sh.rows:
        a, b = (_text(sh.cell(r, c)) for c in columns)
        good = True
        for col, v in zip(columns, (a, b), strict=True):
            if not v:
                sh.error(
                    n,
                    col,
                    "blank",
                    f"{col} in row {n} is empty",
                    f"fill in {col} or delete the row",
                )
                continue
            limit, safe_id = _PAIR_LIMITS[col]
            good &= _check_text(sh, n, col, sh.cell(r, col), limit=limit, safe_id=safe_id)
        if a and b and good:
            out.append((n, a, b))
    return out


def _read_access(sh: _Sheet) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], int] = {}
    for n, login, inst in _read_pairs(sh, ACCESS_COLUMNS):
        if (login, inst) in seen:
            sh.warning(
                n,
                "InstallationId",
                inst,
                f"login {login} is given installation {inst} twice (rows {seen[(login, inst)]} and {n})",
                "the repeat is ignored; delete one row",
            )
        seen.setdefault((login, inst), n)
    return list(seen)


def _read_captions(sh: _Sheet) -> dict[str, str]:
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for n, inst, caption in _read_pairs(sh, CAPTION_COLUMNS):
        if inst in out and out[inst] != caption:
            sh.error(
                n,
                "InstallationId",
                inst,
                f"installation {inst} has two captions (rows {first[inst]} and {n})",
                "keep one caption per installation",
            )
        out.setdefault(inst, caption)
        first.setdefault(inst, n)
    return out


def _unreadable(path: str | Path, reason: str) -> Problem:
    return Problem(
        "error",
        None,
        None,
        None,
        None,
        f"cannot read {Path(path).name} ({reason})",
        "give the .xlsx file exported from the installation database (Excel 2007+ format)",
    )


def read_workbook(
    path: str | Path, parts: tuple[str, ...] = tuple(PARTS), *, allow_empty_access: bool = False
) -> ParsedWorkbook:
    """Read and validate a configuration workbook; every problem is reported, none raised.

    Parameters
    ----------
    path : str or Path
        The .xlsx file.
    parts : tuple of str
        Which of "sensors", "access", "captions" to read (the others' sheets may be absent).
    allow_empty_access : bool
        Accept an access sheet without rows (it would leave every member without access,
        so by default it is an error).

    Returns
    -------
    ParsedWorkbook
        Rows (StartDate converted from Europe/Brussels local time to UTC epoch [s]), access
        pairs, captions, and problems with Excel row numbers (header = 1). Blank signs are 0;
        the text '1'/'-1' is a sign; a blank StartDate is ``NO_START_TS`` with one warning
        per installation. Access rows naming installations without sensors are warnings,
        not errors. Oversized archives, sheets and cells are errors (see ``xlsxsafe``).
    """
    out = ParsedWorkbook(parts=tuple(parts))
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions of exported files: not our problems
        warnings.simplefilter("ignore", UserWarning)
        try:
            too_big = archive_problem(path)
            if too_big:
                reason = f"refused before reading: {too_big}"
                return ParsedWorkbook(parts=tuple(parts), problems=[_unreadable(path, reason)])
            _read(path, parts, out)
        except (InvalidFileException, BadZipFile, KeyError, ValueError, ParseError) as exc:
            reason = f"not an .xlsx workbook: {type(exc).__name__}"
            return ParsedWorkbook(parts=tuple(parts), problems=[_unreadable(path, reason)])
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return ParsedWorkbook(parts=tuple(parts), problems=[_unreadable(path, reason)])
    if "access" in parts and out.ok and not out.access and not allow_empty_access:
        out.problems.append(
            Problem(
                "error",
                SHEET_ACCESS,
                None,
                None,
                None,
                "the access sheet has no rows: importing it would leave every member without "
                "access to any installation",
                "fill the sheet, or pass --allow-empty-access if that is what you want",
            )
        )
    if "sensors" in parts and "access" in parts and out.rows:
        _warn_unequipped(out)
    return out


def _read(path: str | Path, parts: tuple[str, ...], out: ParsedWorkbook) -> None:
    wb = load_workbook(str(path), read_only=True, data_only=True)
    try:
        names: dict[str, str] = {}
        for name in wb.sheetnames:
            key = name.strip()
            if key in names and key in PARTS.values():
                # "Export_Access " next to "Export_Access": which one is meant is a guess
                out.problems.append(
                    Problem(
                        "error",
                        key,
                        None,
                        None,
                        None,
                        f"two sheets are named '{key}' once spaces are ignored: "
                        f"{names[key]!r} and {name!r}",
                        "delete or rename one of them",
                    )
                )
            names.setdefault(key, name)
        required = {
            "sensors": tuple(SENSOR_COLUMNS),
            "access": ACCESS_COLUMNS,
            "captions": CAPTION_COLUMNS,
        }
        readers = {"sensors": _read_sensors, "access": _read_access, "captions": _read_captions}
        for part in parts:
            sheet = PARTS[part]
            if any(p.sheet == sheet and p.row is None for p in out.errors):
                continue  # ambiguous, reported above
            if sheet not in names:
                out.problems.append(
                    Problem(
                        "error",
                        sheet,
                        None,
                        None,
                        None,
                        f"sheet '{sheet}' is missing",
                        f"add a sheet named exactly '{sheet}' (sheets found: {', '.join(wb.sheetnames)})",
                    )
                )
                continue
            sh = _Sheet(sheet, wb[names[sheet]], required[part], out.problems)
            if sh.missing:
                continue
            result = readers[part](sh)
            if part == "sensors":
                out.rows = result
            elif part == "access":
                out.access = result
            else:
                out.captions = result
    finally:
        wb.close()


def _warn_unequipped(out: ParsedWorkbook) -> None:
    equipped = {r.installation_id for r in out.rows}
    bare = sorted({inst for _, inst in out.access} - equipped)
    if bare:
        out.problems.append(
            Problem(
                "warning",
                SHEET_ACCESS,
                None,
                "InstallationId",
                None,
                f"{len(bare)} installation(s) in the access list have no sensor rows: {', '.join(bare)}",
                "normal for homes not equipped yet; their members will see no data until they are",
            )
        )
