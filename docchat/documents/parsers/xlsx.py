"""Excel (.xlsx): per sheet, blocks of rows; each row a self-describing "Header: value" line.

Repeating the header in every row costs tokens but means any chunk of rows, wherever chunking cuts,
says what its numbers are.  The header is the first row of two or more text cells (rows above it,
such as a sheet title, are kept as plain lines); a sheet that starts with numbers has no header and
its rows read "value | value".  Cached formula results are read, not formulas.  Rows (and cells)
read are capped: ``limits.max_pages * 1000`` rows, ``MAX_CELLS`` cells.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from docchat.config import DocumentSettings
from docchat.documents.parsers import XLSX, Piece, build_document, check_size
from docchat.documents.parsers.safety import check_office_zip
from docchat.documents.types import ParsedDocument
from docchat.errors import CorruptDocument, DocchatError

ROWS_PER_UNIT = 50
MAX_CELLS = 2_000_000
_PLAIN_SHEET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass
class _Budget:
    rows: int
    cells: int
    exhausted: str | None = None  # what ran out, for the warning


def parse_xlsx(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Read every worksheet's rows as text, in blocks of ``ROWS_PER_UNIT`` rows."""
    name = name or path.name
    check_size(path, limits, name=name)
    check_office_zip(path, limits, name=name)
    budget = _Budget(rows=limits.max_pages * 1000, cells=MAX_CELLS)
    try:
        # openpyxl warns about parts it skips (data validation, drawings, ...): harmless for text.
        # The filter is process-wide while it lasts; at worst another thread's warning is hidden.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
            # A file object, not the path: openpyxl refuses a path not ending in .xlsx/.xlsm,
            # and uploads are spooled as ``upload-XXXX``, originals stored under their hash.
            with path.open("rb") as f:
                workbook = openpyxl.load_workbook(f, read_only=True, data_only=True)
                try:
                    pieces = [p for sheet in workbook.worksheets for p in _sheet(sheet, budget)]
                    title = workbook.properties.title
                finally:
                    workbook.close()
    except DocchatError:
        raise
    except Exception as exc:  # openpyxl raises many types; the user needs one message
        raise CorruptDocument(f"{name!r} is damaged or not an Excel workbook") from exc
    notes = [f"only the first {budget.exhausted} were read"] if budget.exhausted else []
    return build_document(
        pieces, name=name, mime_type=XLSX.mime_type, title=title or None, warnings=notes
    )


def _sheet(sheet: ReadOnlyWorksheet, budget: _Budget) -> Iterator[Piece]:
    if budget.exhausted:
        return
    # The stored dimensions may be wrong (A1:XFD1048576); without them rows are not padded.
    sheet.reset_dimensions()
    ref = _sheet_ref(sheet.title)
    header: list[str] | None = None
    block: list[str] = []
    first = last = width = 0
    for number, row in enumerate(sheet.iter_rows(min_row=1, min_col=1, values_only=True), 1):
        budget.rows -= 1
        budget.cells -= len(row)
        if budget.rows < 0 or budget.cells < 0:
            budget.exhausted = (
                f"{MAX_CELLS:,} cells" if budget.cells < 0 else f"{number - 1:,} rows of {ref}"
            )
            break
        values = [_format(v) for v in row]
        while values and not values[-1]:
            values.pop()
        if not values:
            continue
        if header is None:
            texts = [v for v in row if v is not None and v != ""]
            if not all(isinstance(v, str) for v in texts):
                header = []  # data before any header row: this sheet has none
            elif len(texts) >= 2:
                header = values
                continue
        if not block:
            first = number
        block.append(_line(values, header or []))
        last, width = number, max(width, len(values))
        if len(block) == ROWS_PER_UNIT:
            yield _piece(block, ref, sheet.title, first, last, width)
            block, width = [], 0
    if block:
        yield _piece(block, ref, sheet.title, first, last, width)
    elif header and first == 0:
        yield Piece(" | ".join(header), section=sheet.title, location=ref)


def _piece(lines: list[str], ref: str, title: str, first: int, last: int, width: int) -> Piece:
    location = f"{ref}!A{first}:{get_column_letter(width)}{last}"
    return Piece("\n".join(lines), section=title, location=location)


def _line(values: list[str], header: list[str]) -> str:
    if not header:
        return " | ".join(values)
    return " | ".join(
        f"{header[i] if i < len(header) and header[i] else get_column_letter(i + 1)}: {value}"
        for i, value in enumerate(values)
        if value
    )


def _sheet_ref(title: str) -> str:
    if _PLAIN_SHEET_NAME.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"  # hides binary noise such as 0.30000000000000004
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return " ".join(str(value).split())
