"""CSV files the club writes (member export, import template and rejected rows, activities, deliveries): one row
as text, every cell neutralised, so that a spreadsheet shows what a member typed and never runs it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Writer

# Written first, so that Excel reads the file as UTF-8 (Japanese names).
BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A cell as plain text for Excel and LibreOffice: '=HYPERLINK(...)' becomes "'=HYPERLINK(...)"."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def unneutralise(value: str) -> str:
    """Undo neutralise on import: "'=SUM(A1)" is read back as "=SUM(A1)", so an export imported again is equal."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def writer(buffer: io.StringIO, delimiter: str = ",") -> Writer:
    return csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")


def row(values: Iterable[object], delimiter: str = ",") -> str:
    """One line of a CSV file, cells neutralised, ending in CRLF."""
    buffer = io.StringIO()
    writer(buffer, delimiter).writerow([neutralise(value) for value in values])
    return buffer.getvalue()
