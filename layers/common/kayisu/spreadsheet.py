"""Cells of the CSV files people open in a spreadsheet (finance exports, batch rejects reports).

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and, in
some of them, after a leading tab or carriage return) as a formula: `=HYPERLINK(...)` in a
provider's order id would become a live link in finance's sheet, a DDE formula could run a
program (CSV or formula injection). Such a text cell is written with a single quote in front,
as OWASP recommends; spreadsheets show the text and never evaluate it.

Numbers are data, not formulas: an int, and a text cell that is only a number (`-1990`,
`-19.90`), are written as they are, so that a negative amount stays a number in the sheet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, which no spreadsheet reads as a formula (but "-1+2" or "-1e3" it may).
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: object) -> object:
    """`value` as a CSV cell that opens as data: a text cell that a spreadsheet would run as a
    formula gets a leading `'`; anything else (numbers, other text) is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(cells: Iterable[object]) -> list[object]:
    """A row for `csv.writer.writerow`, every cell through `safe_cell`, None as an empty cell."""
    return [safe_cell("" if cell is None else cell) for cell in cells]
