"""Guards against hostile .xlsx files, applied before and while openpyxl parses them.

An .xlsx file is a zip archive of XML parts. Three things can make a small file cost hours
or gigabytes: a zip bomb (a few KB that inflate to GiB), a declared sheet dimension such
as ``A1:XFD1048576`` (openpyxl pads every row to 16,384 columns and emits a million empty
rows), and sheets with more rows or columns than any configuration needs. The archive's
declared sizes are checked before anything is parsed (Python's zipfile never inflates an
entry past its declared size), sheets are streamed in read-only mode with their declared
dimension ignored, and rows and columns are capped. Text cells are checked for control
characters and length by the helpers at the end.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Sum of the declared uncompressed sizes of every part [bytes]. The real workbook is
#: under 1 MiB; 200,000 sensor rows take about 60 MiB.
MAX_UNCOMPRESSED_BYTES = 512 * 2**20
#: Parts in the archive (a workbook has about a dozen).
MAX_ENTRIES = 10_000
#: Non-blank rows read from one sheet, header included.
MAX_ROWS = 1_000_000
#: Columns read from one row; the sheets have 2 to 10 named columns.
MAX_COLUMNS = 256

#: Ids (installations, Fluksometers): what is safe in URLs, file names and logs.
ID_MAX = 64
ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
LOGIN_MAX = 64
CAPTION_MAX = 200
FUNCTION_MAX = 100

# bidirectional overrides reorder what a reader sees: as dangerous as control characters
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def archive_problem(path: str | Path) -> str | None:
    """Why the archive at ``path`` must not be parsed, or None when its sizes are sane.

    Raises
    ------
    zipfile.BadZipFile, OSError
        When the file is not a readable zip archive (the caller reports it as unreadable).
    """
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        return f"{len(infos)} parts in the archive, more than {MAX_ENTRIES}"
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        return (
            f"{total / 2**20:.0f} MiB once uncompressed, more than "
            f"{MAX_UNCOMPRESSED_BYTES // 2**20} MiB (a zip bomb or not a configuration)"
        )
    return None


def stream_rows(ws: Any) -> Iterator[tuple[int, tuple]]:
    """(Excel row number, values) of the rows present in a read-only worksheet.

    The declared dimension is ignored and rows absent from the file are not made up:
    ``iter_rows`` pads every row to the declared width and yields an empty row for each
    missing one, a million of them for a sheet whose last row is 1,048,576. So the sheet's
    XML is parsed here with openpyxl's own streaming parser (openpyxl is pinned). A row is
    cut to ``MAX_COLUMNS`` values.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    wb = ws.parent
    with ws._get_source() as src:
        parser = WorkSheetParser(
            src,
            ws._shared_strings,
            data_only=wb.data_only,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
        for idx, cells in parser.parse():
            values: list[Any] = []
            for cell in cells:
                column = cell["column"]
                if column > MAX_COLUMNS:
                    break
                values.extend([None] * (column - 1 - len(values)))
                values.append(cell["value"])
            yield idx, tuple(values)


def control_chars(text: str) -> list[str]:
    """The control (and bidirectional override) characters in ``text``, as U+XXXX."""
    bad = [
        ch
        for ch in text
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029"
    ]
    return [f"U+{ord(ch):04X}" for ch in dict.fromkeys(bad)]
