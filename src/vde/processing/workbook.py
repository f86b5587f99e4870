"""The configuration workbook (Configuration.xlsx): read, validate, write.

Pure: no database, no clock, no logging. ``read_workbook`` returns the parsed rows, access
pairs and captions together with every problem found (errors and warnings); the caller
decides what to do with them. Excel header names are mapped to ours in one place
(``SENSOR_COLUMNS``). Sensor tokens are secrets: no message here ever contains one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook

from vde.models import SensorRow
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
        the text '1'/'-1', StartDate as a naive Europe/Brussels datetime.
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
                ts_to_excel(r.start_ts),
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
