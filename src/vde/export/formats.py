"""CSV and Parquet files from the export tables, written atomically, with their sha256.

CSV is written as the dashboard writes its downloads in English: ``,`` between fields,
a decimal point, power with 1 decimal [W], energy with 3 [Wh], shares with 4, an empty
cell where there is no value (never 0) and never ``-0.0``; times as ISO-8601 (``Z`` for
UTC, the local offset for local time); booleans ``true``/``false``. Parquet keeps the
Arrow types (int64, float64 with nulls, bool, timestamps with their time zone,
dictionary-encoded ids) and is compressed with zstd.

Formatting is vectorised in Arrow: a month of 60 homes at 8 s is 19 million rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

#: decimals of each numeric CSV column (columns not listed are written as they are)
DECIMALS: dict[str, int] = {
    "p_cons_w": 1,
    "p_prod_w": 1,
    "p_tot_w": 1,
    "power_w": 1,
    "e_cons_wh": 3,
    "e_prod_wh": 3,
    "e_tot_wh": 3,
    "e_import_wh": 3,
    "e_export_wh": 3,
    "coverage": 4,
    "estimated_share": 4,
}
PARQUET_COMPRESSION = "zstd"
_SOD: pa.Array | None = None  # "HH:MM:SS" of every second of a day, built once
_SIGNS = pa.array(["", "-"])
_FRACTIONS: dict[int, pa.Array] = {}


def _fractions(decimals: int) -> pa.Array:
    if decimals not in _FRACTIONS:
        _FRACTIONS[decimals] = pa.array([f"{i:0{decimals}d}" for i in range(10**decimals)])
    return _FRACTIONS[decimals]


def _seconds_of_day() -> pa.Array:
    global _SOD
    if _SOD is None:
        _SOD = pa.array(
            [f"{h:02d}:{m:02d}:{x:02d}" for h in range(24) for m in range(60) for x in range(60)]
        )
    return _SOD


def iso_strings(ts: np.ndarray, offset_s: np.ndarray | int, utc: bool) -> pa.Array:
    """ISO-8601 texts of UTC epoch seconds shifted by ``offset_s``: ``...Z`` or ``...+02:00``."""
    ts = np.asarray(ts, dtype=np.int64)
    local = ts + offset_s
    day, sod = np.divmod(local, 86400)
    days, inverse = np.unique(day, return_inverse=True)
    day_text = pa.array(np.datetime_as_string(days.astype("datetime64[D]")).tolist())
    parts = [pc.take(day_text, pa.array(inverse)), pa.scalar("T"), pc.take(_seconds_of_day(), sod)]
    if utc:
        parts.append(pa.scalar("Z"))
    else:
        offs, oinv = np.unique(np.broadcast_to(offset_s, ts.shape), return_inverse=True)
        names = [
            f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}" for o in offs
        ]
        parts.append(pc.take(pa.array(names, pa.string()), pa.array(oinv)))
    return pc.binary_join_element_wise(*parts, "")


def fixed(values: pa.Array, decimals: int) -> pa.Array:
    """Numbers as text with fixed decimals; null stays null (an empty cell); no ``-0``."""
    a = values.to_numpy(zero_copy_only=False).astype(np.float64)
    missing = np.isnan(a)
    values = np.where(missing, 0.0, a)
    raw = values * 10**decimals
    scaled = np.rint(raw).astype(np.int64)
    # near a tie (x.x5), scaling rounds in binary where Python's format rounds the exact
    # value: those few cells take Python's answer, so every cell is the dashboard's cell
    ties = np.flatnonzero(np.abs(np.abs(raw - np.trunc(raw)) - 0.5) < 1e-6)
    for i in ties.tolist():
        text = f"{abs(values[i]):.{decimals}f}".replace(".", "")
        scaled[i] = -int(text) if values[i] < 0 else int(text)
    whole, frac = np.divmod(np.abs(scaled), 10**decimals)
    # small lookup tables instead of per-value formatting (take is a gather in C++)
    sign = pc.take(_SIGNS, pa.array((scaled < 0).astype(np.int8)))
    frac_text = pc.take(_fractions(decimals), pa.array(frac))
    out = pc.binary_join_element_wise(
        sign, pc.cast(pa.array(whole), pa.string()), pa.scalar("."), frac_text, ""
    )
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), out)


def csv_table(table: pa.Table) -> pa.Table:
    """Every column as the text the CSV file holds."""
    cols = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name in ("utc_time", "local_time"):
            ts = table.column("ts").to_numpy().astype(np.int64)
            cols[name] = iso_strings(
                ts, _offsets(ts) if name == "local_time" else 0, name == "utc_time"
            )
        elif name in DECIMALS:
            cols[name] = fixed(col, DECIMALS[name])
        elif pa.types.is_boolean(col.type):
            cols[name] = pc.if_else(col, "true", "false")
        elif pa.types.is_dictionary(col.type):
            cols[name] = col.cast(pa.string())
        else:
            cols[name] = col
    return pa.table(cols)


def _offsets(ts: np.ndarray) -> np.ndarray:
    """Europe/Brussels UTC offset of each instant [s], looked up once per UTC hour."""
    from datetime import datetime

    from vde.timeutil import BRUSSELS

    if not len(ts):
        return np.zeros(0, np.int64)
    hours, inverse = np.unique(ts // 3600, return_inverse=True)
    per_hour = [
        int(datetime.fromtimestamp(int(h) * 3600, BRUSSELS).utcoffset().total_seconds())
        for h in hours
    ]
    return np.asarray(per_hour, dtype=np.int64)[inverse]


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write ``table`` to ``path`` atomically (a temporary name in the folder, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp, compression=PARQUET_COMPRESSION)
        else:
            write_csv(csv_table(table), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(text: pa.Table, path: Path) -> None:
    """Cells unquoted, as the dashboard writes them (Arrow's "needed" quotes every text);
    quoted only if some cell holds a comma, a quote or a line break (ids from a workbook)."""
    header = (",".join(text.column_names) + "\n").encode()
    try:
        _write_csv(text, path, header, "none")
    except pa.ArrowInvalid:
        _write_csv(text, path, header, "needed")


def _write_csv(text: pa.Table, path: Path, header: bytes, quoting: str) -> None:
    opts = pacsv.WriteOptions(include_header=False, quoting_style=quoting)
    with open(path, "wb") as f:
        f.write(header)
        pacsv.write_csv(text, f, write_options=opts)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
