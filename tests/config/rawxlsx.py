"""Write .xlsx files part by part, as a hostile or careless producer could.

openpyxl always writes sane files; these helpers write the zip parts directly, so tests can
declare any sheet dimension, stream hundreds of thousands of rows in seconds, or pad a
sheet into a zip bomb.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "{sheets}</Types>"
)
_SHEET_CT = (
    '<Override PartName="/xl/worksheets/sheet{i}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def _cell(ref: str, value: object, strings: dict[str, int]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("no booleans in these sheets")
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    # shared strings, as Excel writes text
    index = strings.setdefault(str(value), len(strings))
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'


def sheet_xml(
    rows: Iterable[list],
    strings: dict[str, int],
    dimension: str | None = None,
    pad: int = 0,
    tail_row: int | None = None,
) -> Iterator[bytes]:
    """The XML of one sheet in chunks; ``pad`` bytes of blanks before </sheetData>;
    ``tail_row``: an empty cell in column XFD of that row (formatting Excel leaves)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}>{dim}<sheetData>'.encode()
    chunk: list[str] = []
    for n, row in enumerate(rows, start=1):
        cells = "".join(
            _cell(f"{get_column_letter(i + 1)}{n}", v, strings) for i, v in enumerate(row)
        )
        chunk.append(f'<row r="{n}">{cells}</row>')
        if len(chunk) >= 5000:
            yield "".join(chunk).encode()
            chunk = []
    yield "".join(chunk).encode()
    if tail_row is not None:
        yield f'<row r="{tail_row}"><c r="XFD{tail_row}"/></row>'.encode()
    block = b" " * 2**20
    while pad > 0:
        yield block[: min(pad, len(block))]
        pad -= len(block)
    yield b"</sheetData></worksheet>"


def write_xlsx(
    path: Path,
    sheets: dict[str, Iterable[list]],
    *,
    dimensions: dict[str, str] | None = None,
    pad: dict[str, int] | None = None,
    tail_rows: dict[str, int] | None = None,
) -> None:
    """Write a workbook of ``sheets`` (name -> rows, header first) to ``path``."""
    names = list(sheets)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(
                sheets="".join(_SHEET_CT.format(i=i) for i in range(1, len(names) + 1))
            ),
        )
        z.writestr("_rels/.rels", _RELS)
        z.writestr(
            "xl/workbook.xml",
            f"<workbook {_NS} {_R}><sheets>"
            + "".join(
                f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                for i, name in enumerate(names, start=1)
            )
            + "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" '
                'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(names) + 1)
            )
            + f'<Relationship Id="rId{len(names) + 1}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            'Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        strings: dict[str, int] = {}
        for i, name in enumerate(names, start=1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as out:
                for part in sheet_xml(
                    sheets[name],
                    strings,
                    (dimensions or {}).get(name),
                    (pad or {}).get(name, 0),
                    (tail_rows or {}).get(name),
                ):
                    out.write(part)
        z.writestr(
            "xl/sharedStrings.xml",
            f'<sst {_NS} count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f'<si><t xml:space="preserve">{escape(t)}</t></si>' for t in strings)
            + "</sst>",
        )
