"""Card batch files to rows: real bytes in, good and rejected rows out, never a code in a reason."""

from __future__ import annotations

import io
import random
import tracemalloc
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, cast

import openpyxl  # type: ignore[import-untyped]
import pytest

from kayisu.ingest.parsing import (
    LIMITS,
    MAX_CODE_LENGTH,
    MAX_LINE_BYTES,
    CardRow,
    FileKind,
    FileRejected,
    Limits,
    RejectedRow,
    kind_of,
    read_rows,
)
from tests.support import xlsx_bomb

Row = CardRow | RejectedRow


# -- helpers


class ReadOnlyStream:
    """A non-seekable stream with nothing but read(n), like an S3 StreamingBody.

    `most` caps every read, to cut lines, CRLFs and byte order marks across reads.
    """

    def __init__(self, data: bytes, most: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self._most = most

    def read(self, size: int) -> bytes:
        return self._data.read(size if self._most is None else min(size, self._most))


class GeneratedCodes:
    """`count` lines of codes made on demand (the test never holds the file either); only read(n).

    `sizes` records the sizes asked for.
    """

    def __init__(self, count: int, header: bytes = b"") -> None:
        self._lines = (f"CODE-{n:010d}\r\n".encode() for n in range(count))
        self._rest = header
        self.sizes: list[int] = []

    def read(self, size: int) -> bytes:
        self.sizes.append(size)
        parts, filled = [self._rest], len(self._rest)
        while filled < size and (line := next(self._lines, None)) is not None:
            parts.append(line)
            filled += len(line)
        data = b"".join(parts)
        self._rest = data[size:]
        return data[:size]


def stream(source: ReadOnlyStream | GeneratedCodes) -> BinaryIO:
    return cast(BinaryIO, source)


def read(kind: FileKind, data: bytes) -> list[Row]:
    return list(read_rows(kind, io.BytesIO(data)))


def read_txt(text: str) -> list[Row]:
    return read("txt", text.encode())


def read_csv(text: str, encoding: str = "utf-8") -> list[Row]:
    return read("csv", text.encode(encoding))


def write_xlsx(path: Path, rows: Iterable[Sequence[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def read_xlsx(path: Path) -> list[Row]:
    with path.open("rb") as source:
        return list(read_rows("xlsx", source))


def rejected(line: int, reason: str) -> RejectedRow:
    return RejectedRow(line=line, reason=reason)


# -- kind_of


@pytest.mark.parametrize(
    ("filename", "kind"),
    [("cards.CSV", "csv"), ("cards.Txt", "txt"), ("cards.xlsx", "xlsx"), ("batch.2026-01.XLSX", "xlsx")],
)
def test_kind_is_the_extension_in_any_case(filename: str, kind: str) -> None:
    assert kind_of(filename) == kind


@pytest.mark.parametrize("filename", ["cards.xls", "cards.csv.zip", "cards", "cards.", "txt"])
def test_other_file_types_are_rejected_with_the_accepted_ones_named(filename: str) -> None:
    with pytest.raises(FileRejected, match=r"^unsupported file type.*; use \.csv, \.txt or \.xlsx$"):
        kind_of(filename)


def test_reading_an_unsupported_kind_rejects_the_file() -> None:
    with pytest.raises(FileRejected, match="unsupported file type"):
        list(read_rows(cast(FileKind, "xls"), io.BytesIO(b"code\nA\n")))


# -- txt


def test_txt_has_one_code_per_line() -> None:
    assert read_txt("AAA-1\nBBB-2\n") == [CardRow(1, "AAA-1"), CardRow(2, "BBB-2")]


def test_txt_takes_crlf_and_a_last_line_without_newline() -> None:
    assert read_txt("AAA-1\r\nBBB-2\r\nCCC-3") == [CardRow(1, "AAA-1"), CardRow(2, "BBB-2"), CardRow(3, "CCC-3")]


def test_txt_skips_empty_lines_but_counts_them_in_line_numbers() -> None:
    text = "\nAAA-1\n\n   \n\t\nBBB-2\n\n"
    assert read_txt(text) == [CardRow(2, "AAA-1"), CardRow(6, "BBB-2")]


def test_txt_codes_are_trimmed_but_keep_inner_spaces() -> None:
    assert read_txt("  AAA 111 \t\r\n") == [CardRow(1, "AAA 111")]


def test_txt_utf8_byte_order_mark_is_not_part_of_the_first_code() -> None:
    assert read("txt", b"\xef\xbb\xbfAAA-1\r\nBBB-2\r\n") == [CardRow(1, "AAA-1"), CardRow(2, "BBB-2")]


def test_txt_reads_utf8_and_gb18030_lines() -> None:
    data = "卡密-1\n".encode() + "卡密-2\n".encode("gb18030")
    assert read("txt", data) == [CardRow(1, "卡密-1"), CardRow(2, "卡密-2")]


def test_txt_lines_are_found_across_any_read_boundaries() -> None:
    data = b"\xef\xbb\xbfAAA-1\r\n\r\n" + "卡密-2\r\n".encode("gb18030") + b"CCC-3"
    rows = list(read_rows("txt", stream(ReadOnlyStream(data, most=1))))
    assert rows == [CardRow(1, "AAA-1"), CardRow(3, "卡密-2"), CardRow(4, "CCC-3")]


def test_utf16_text_rejects_the_file_with_what_to_do() -> None:
    with pytest.raises(FileRejected, match=r"UTF-16.*save it as UTF-8"):
        read("txt", "AAA-1\r\nBBB-2\r\n".encode("utf-16"))


def test_a_line_longer_than_any_batch_line_rejects_the_file() -> None:
    data = b"AAA-1\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\nBBB-2\n"
    rows = read_rows("txt", stream(ReadOnlyStream(data)))
    assert next(rows) == CardRow(1, "AAA-1")
    with pytest.raises(FileRejected, match=r"^line 2 is longer than"):
        next(rows)


# -- csv


def test_csv_reads_every_known_column() -> None:
    text = "code,serial,expires_at,face_value\nAAA-1,SN-001,2026-12-31,10000\nBBB-2,,,\n"
    assert read_csv(text) == [
        CardRow(2, "AAA-1", serial="SN-001", expires_at=date(2026, 12, 31), face_value=10000),
        CardRow(3, "BBB-2"),
    ]


def test_csv_header_names_are_trimmed_case_insensitive_in_any_order_and_extras_ignored() -> None:
    text = "Note, Face_Value ,CODE,Serial\r\nhello,500,AAA-1,SN-1\r\n"
    assert read_csv(text) == [CardRow(2, "AAA-1", serial="SN-1", face_value=500)]


def test_csv_utf8_byte_order_mark_does_not_hide_the_code_column() -> None:
    data = "\ufeffcode,serial\r\nAAA-1,一号\r\n".encode()
    assert read("csv", data) == [CardRow(2, "AAA-1", serial="一号")]


def test_csv_saved_by_excel_in_china_is_gb18030() -> None:
    text = "code,serial,face_value\r\nAAA-1,一号卡,1000\r\nBBB-2,二号卡·€,2000\r\n"
    assert read_csv(text, encoding="gb18030") == [
        CardRow(2, "AAA-1", serial="一号卡", face_value=1000),
        CardRow(3, "BBB-2", serial="二号卡·€", face_value=2000),
    ]


def test_csv_quoted_fields_keep_commas_quotes_and_newlines() -> None:
    text = 'code,serial,note\n"AAA,1","say ""hi""","two\r\nlines"\nBBB-2,SN-2,\n'
    assert read_csv(text) == [CardRow(2, "AAA,1", serial='say "hi"'), CardRow(4, "BBB-2", serial="SN-2")]


def test_csv_record_spanning_lines_is_numbered_where_it_starts() -> None:
    text = 'code,note\n\n"AAA\nBBB",x\nCCC-3,"a\n\nb"\nDDD-4,\n'
    assert read_csv(text) == [
        rejected(3, "code has non-printable characters"),
        CardRow(5, "CCC-3"),
        CardRow(8, "DDD-4"),
    ]


def test_csv_short_rows_leave_optional_fields_empty_and_long_rows_are_cut() -> None:
    text = "code,serial,face_value\nAAA-1\nBBB-2,SN-2,300,surplus,more\n"
    assert read_csv(text) == [CardRow(2, "AAA-1"), CardRow(3, "BBB-2", serial="SN-2", face_value=300)]


def test_csv_skips_empty_lines_and_rows_of_empty_fields() -> None:
    text = "code,serial\n\n,\n , \nAAA-1,SN-1\n"
    assert read_csv(text) == [CardRow(5, "AAA-1", serial="SN-1")]


def test_csv_row_with_fields_but_no_code_is_rejected() -> None:
    text = "code,serial\n,SN-SECRET\nAAA-1,\n"
    rows = read_csv(text)
    assert rows == [rejected(2, "empty code"), CardRow(3, "AAA-1")]
    assert "SN-SECRET" not in repr(rows[0])


def test_csv_without_a_code_column_rejects_the_file_without_quoting_it() -> None:
    with pytest.raises(FileRejected, match=r"^the header has no 'code' column$") as raised:
        read_csv("SECRET-CODE-1\nSECRET-CODE-2\n")
    assert "SECRET" not in str(raised.value)


@pytest.mark.parametrize("text", ["", "\n", " , ,\nAAA-1,,\n"], ids=["empty file", "blank line", "blank names"])
def test_csv_without_a_header_rejects_the_file(text: str) -> None:
    with pytest.raises(FileRejected, match=r"^the header row is empty"):
        read_csv(text)


def test_csv_with_two_code_columns_rejects_the_file() -> None:
    with pytest.raises(FileRejected, match=r"^the header has more than one 'code' column$"):
        read_csv("code,Code\nAAA-1,BBB-2\n")


def test_csv_header_that_is_not_text_rejects_the_file() -> None:
    with pytest.raises(FileRejected, match="header row is neither UTF-8 nor GB18030"):
        read("csv", b"co\x80de\nAAA-1\n")


def test_csv_quote_never_closed_rejects_the_file_instead_of_swallowing_rows() -> None:
    text = 'code,serial\nAAA-1,SN-1\nBBB-2,"SN-2\nCCC-3,SN-3\n'
    rows = read_rows("csv", io.BytesIO(text.encode()))
    assert next(rows) == CardRow(2, "AAA-1", serial="SN-1")
    with pytest.raises(FileRejected, match=r"^a quoted field opened on line 3 is never closed$"):
        next(rows)


def test_csv_text_after_a_closing_quote_rejects_the_file() -> None:
    with pytest.raises(FileRejected, match=r"^line 3 is not valid CSV \(check its quotes\)$"):
        read_csv('code,serial\nAAA-1,SN-1\n"SECRET"X,SN-2\n')


def test_csv_record_longer_than_any_batch_row_rejects_the_file() -> None:
    text = 'code,note\nAAA-1,"' + "x\n" * 40_000 + '"\n'
    with pytest.raises(FileRejected, match=r"^the CSV record starting on line 2 is longer than"):
        read_csv(text)


# -- validation: one set of rules and reasons for every kind; a reason never carries the row


@pytest.mark.parametrize(
    ("line", "reason", "secret"),
    [
        (",SN-SECRET-1,,", "empty code", "SN-SECRET-1"),
        ("K" * 257 + ",,,", "code longer than 256 characters", "K" * 10),
        ("SECRET\x07CODE,,,", "code has non-printable characters", "SECRET"),
        ("SECRET-CODE,,2026/12/31,", "expires_at is not a date (YYYY-MM-DD)", "SECRET"),
        ("SECRET-CODE,,,12.50", "face_value is not a whole number of minor units", "SECRET"),
    ],
    ids=["empty", "too long", "non-printable", "expires_at", "face_value"],
)
def test_bad_row_is_rejected_with_its_line_and_reason_only(line: str, reason: str, secret: str) -> None:
    text = f"code,serial,expires_at,face_value\nGOOD-1,,,\n{line}\nGOOD-2,,,\n"
    rows = read_csv(text)
    assert rows == [CardRow(2, "GOOD-1"), rejected(3, reason), CardRow(4, "GOOD-2")]
    assert secret not in repr(rows[1])


@pytest.mark.parametrize("kind", ["txt", "csv"])
def test_line_that_is_neither_utf8_nor_gb18030_is_rejected_without_its_bytes(kind: FileKind) -> None:
    header = b"code\n" if kind == "csv" else b""
    first = 2 if kind == "csv" else 1
    rows = read(kind, header + b"GOOD-1\nSECRET\x80\xffCODE\nGOOD-2\n")
    assert rows == [
        CardRow(first, "GOOD-1"),
        rejected(first + 1, "text is neither UTF-8 nor GB18030"),
        CardRow(first + 2, "GOOD-2"),
    ]
    assert "SECRET" not in repr(rows[1])


def test_code_may_have_256_characters_but_not_257() -> None:
    ok, too_long = "A" * MAX_CODE_LENGTH, "B" * (MAX_CODE_LENGTH + 1)
    rows = read_txt(f"{ok}\n{too_long}\n")
    assert rows == [CardRow(1, ok), rejected(2, "code longer than 256 characters")]
    assert "B" * 10 not in repr(rows[1])


def test_code_length_counts_characters_not_bytes() -> None:
    code = "卡" * MAX_CODE_LENGTH
    assert read_txt(code) == [CardRow(1, code)]


@pytest.mark.parametrize("code", ["SECRET\x07CODE", "SECRET\u200bCODE", "SECRET\x00CODE"], ids=["bell", "zwsp", "nul"])
def test_code_with_non_printable_characters_is_rejected(code: str) -> None:
    rows = read_txt(f"{code}\n")
    assert rows == [rejected(1, "code has non-printable characters")]
    assert "SECRET" not in repr(rows[0])


@pytest.mark.parametrize(
    ("field", "expected"), [("2026-02-28", date(2026, 2, 28)), (" 2026-02-28 ", date(2026, 2, 28)), ("", None)]
)
def test_expires_at_is_an_iso_date_or_empty(field: str, expected: date | None) -> None:
    assert read_csv(f"code,expires_at\nAAA-1,{field}\n") == [CardRow(2, "AAA-1", expires_at=expected)]


@pytest.mark.parametrize("field", ["2026-02-30", "2026/02/28", "20260228", "28.02.2026", "2026-W09-6", "tomorrow"])
def test_expires_at_in_another_form_is_rejected(field: str) -> None:
    rows = read_csv(f"code,expires_at\nAAA-1,{field}\n")
    assert rows == [rejected(2, "expires_at is not a date (YYYY-MM-DD)")]
    assert field not in repr(rows[0])


@pytest.mark.parametrize(("field", "expected"), [("0", 0), ("10000", 10000), (" 500 ", 500), ("", None)])
def test_face_value_is_a_non_negative_integer_or_empty(field: str, expected: int | None) -> None:
    assert read_csv(f"code,face_value\nAAA-1,{field}\n") == [CardRow(2, "AAA-1", face_value=expected)]


@pytest.mark.parametrize("field", ["-1", "12.5", "100.00", "1e3", "1_000", "١٢", "+5", "ten"])
def test_face_value_in_another_form_is_rejected(field: str) -> None:
    assert read_csv(f"code,face_value\nAAA-1,{field}\n") == [
        rejected(2, "face_value is not a whole number of minor units")
    ]


# -- xlsx


def test_xlsx_reads_the_first_sheet_with_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [["code", "serial"], ["AAA-1", "SN-1"], ["BBB-2", None]])
    assert read_xlsx(path) == [CardRow(2, "AAA-1", serial="SN-1"), CardRow(3, "BBB-2")]


def test_xlsx_reads_only_the_first_sheet(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["code"])
    workbook.active.append(["AAA-1"])
    workbook.create_sheet("other").append(["code", "OTHER-1"])
    workbook.save(tmp_path / "b.xlsx")
    assert read_xlsx(tmp_path / "b.xlsx") == [CardRow(2, "AAA-1")]


def test_xlsx_numeric_codes_become_their_digits(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["code", "serial"],
        [12345678901234, 42],
        [12345678901234.0, 7.0],
        [999999999999999, None],
    ]
    path = write_xlsx(tmp_path / "b.xlsx", rows)
    assert read_xlsx(path) == [
        CardRow(2, "12345678901234", serial="42"),
        CardRow(3, "12345678901234", serial="7"),
        CardRow(4, "999999999999999"),
    ]


@pytest.mark.parametrize(
    "cell", [1.5e16, 12.5, True, datetime(2026, 3, 12)], ids=["float beyond 15 digits", "fraction", "bool", "date"]
)
def test_xlsx_code_cell_that_cannot_be_a_code_exactly_is_rejected(tmp_path: Path, cell: Any) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [["code"], [cell], ["AAA-1"]])
    assert read_xlsx(path) == [
        rejected(2, "code cell is not text or an exact whole number; format the code column as text"),
        CardRow(3, "AAA-1"),
    ]


def test_xlsx_expiry_may_be_a_date_cell_or_text(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["code", "expires_at"],
        ["AAA-1", date(2026, 12, 31)],
        ["BBB-2", datetime(2027, 1, 31, 23, 59)],
        ["CCC-3", "2028-02-29"],
        ["DDD-4", None],
        ["SECRET-5", "31/12/2026"],
        ["SECRET-6", 46053],
    ]
    path = write_xlsx(tmp_path / "b.xlsx", rows)
    assert read_xlsx(path) == [
        CardRow(2, "AAA-1", expires_at=date(2026, 12, 31)),
        CardRow(3, "BBB-2", expires_at=date(2027, 1, 31)),
        CardRow(4, "CCC-3", expires_at=date(2028, 2, 29)),
        CardRow(5, "DDD-4"),
        rejected(6, "expires_at is not a date (YYYY-MM-DD)"),
        rejected(7, "expires_at is not a date (YYYY-MM-DD)"),
    ]


def test_xlsx_face_value_may_be_a_number_or_text(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["code", "face_value"],
        ["A", 1000],
        ["B", 2000.0],
        ["C", " 3000 "],
        ["D", 12.5],
        ["E", -1],
        ["F", "1,000"],
    ]
    path = write_xlsx(tmp_path / "b.xlsx", rows)
    bad = "face_value is not a whole number of minor units"
    assert read_xlsx(path) == [
        CardRow(2, "A", face_value=1000),
        CardRow(3, "B", face_value=2000),
        CardRow(4, "C", face_value=3000),
        rejected(5, bad),
        rejected(6, bad),
        rejected(7, bad),
    ]


def test_xlsx_skips_empty_rows_and_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["code", "serial"],
        [],
        ["AAA-1"],
        [None, None],
        ["  ", ""],
        [None, "SN-SECRET"],
        ["BBB-2"],
    ]
    path = write_xlsx(tmp_path / "b.xlsx", rows)
    result = read_xlsx(path)
    assert result == [CardRow(3, "AAA-1"), rejected(6, "empty code"), CardRow(7, "BBB-2")]
    assert "SN-SECRET" not in repr(result[1])


def test_xlsx_reads_rows_beyond_a_wrong_dimension(tmp_path: Path) -> None:
    # Some writers store a sheet size (<dimension>) smaller than the sheet; read-only openpyxl trusts it.
    path = write_xlsx(tmp_path / "b.xlsx", [["code"], ["AAA-1"], ["BBB-2"], ["CCC-3"]])
    shrunk = tmp_path / "shrunk.xlsx"
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(shrunk, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:A4"' in data
                data = data.replace(b'<dimension ref="A1:A4"', b'<dimension ref="A1:A2"')
            copy.writestr(item, data)
    assert [row.line for row in read_xlsx(shrunk)] == [2, 3, 4]


def test_xlsx_without_a_code_column_rejects_the_file(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [["SECRET-CODE-1"], ["SECRET-CODE-2"]])
    with pytest.raises(FileRejected, match=r"^the header has no 'code' column$"):
        read_xlsx(path)


def test_empty_xlsx_rejects_the_file(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [])
    with pytest.raises(FileRejected, match=r"^the header row is empty"):
        read_xlsx(path)


def test_random_bytes_are_not_an_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    path.write_bytes(random.Random(3).randbytes(4096))  # noqa: S311 - test data, not a secret
    with pytest.raises(FileRejected, match=r"^not a readable \.xlsx file$"):
        read_xlsx(path)


def test_zip_that_is_not_a_workbook_is_not_an_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("codes.txt", "AAA-1\n")
    with pytest.raises(FileRejected, match=r"^not a readable \.xlsx file$"):
        read_xlsx(path)


def test_xlsx_workbook_is_closed_when_reading_stops_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read-only workbook keeps its zip open until closed.
    closed: list[bool] = []
    close = openpyxl.Workbook.close

    def watched_close(workbook: Any) -> None:
        closed.append(True)
        close(workbook)

    monkeypatch.setattr(openpyxl.Workbook, "close", watched_close)
    path = write_xlsx(tmp_path / "b.xlsx", [["code"], ["AAA-1"], ["BBB-2"]])
    with path.open("rb") as source:
        rows = read_rows("xlsx", source)
        assert next(rows) == CardRow(2, "AAA-1")
        assert isinstance(rows, Generator)
        rows.close()
        assert closed == [True]
        assert not source.closed  # the caller's file stays the caller's


# -- streaming: a generator all the way, whatever the size


def test_first_row_needs_only_the_first_chunk_of_a_huge_file() -> None:
    source = GeneratedCodes(1_000_000)
    rows = read_rows("txt", stream(source))
    assert next(rows) == CardRow(1, "CODE-0000000000")
    assert source.sizes == [65536]


def test_large_txt_streams_through_a_read_only_stream() -> None:
    count = 200_000
    source = GeneratedCodes(count)
    seen = 0
    last: Row | None = None
    for row in read_rows("txt", stream(source)):
        seen += 1
        last = row
    assert seen == count
    assert last == CardRow(count, f"CODE-{count - 1:010d}")
    assert set(source.sizes) == {65536}


def test_memory_stays_flat_while_reading_a_large_csv() -> None:
    def lines() -> Iterator[bytes]:
        yield b"code,serial\n"
        for n in range(20_000):
            yield f"CODE-{n:010d},SN-{n}\n".encode()

    source = ReadOnlyStream(b"".join(lines()))  # held by the test before tracing starts
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_rows("csv", stream(source)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 1 << 20  # about two 64 KiB chunks and their lines; keeping the rows would take ~5 MiB


# -- limits: a file too large, too long or inflating too far is refused, never read to exhaustion

MIB = 1 << 20


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_xlsx_zip_bomb_is_refused_from_its_directory_before_anything_inflates(part: str) -> None:
    bomb = xlsx_bomb(part, inflated=1 << 30)  # a 1 MB file whose shared strings or sheet are 1 GiB
    assert len(bomb) < 2 * MIB
    source = io.BytesIO(bomb)  # held before tracing starts
    tracemalloc.start()
    try:
        with pytest.raises(
            FileRejected, match=r"^the \.xlsx file inflates to more than 512 MiB of XML; save the codes"
        ):
            next(read_rows("xlsx", source))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MIB  # the directory only: inflating would take a GiB


def test_the_bomb_helper_makes_a_real_workbook() -> None:
    # The same file, inflating to only 3 MiB, is read like any other: the caps refuse size, not form.
    small = xlsx_bomb("xl/sharedStrings.xml", inflated=3 * MIB, codes=["AAA-1", "BBB-2"])
    assert zipfile.ZipFile(io.BytesIO(small)).getinfo("xl/sharedStrings.xml").file_size == 3 * MIB
    rows = read_rows("xlsx", io.BytesIO(small), Limits(xlsx_ratio=10_000))  # whitespace: far over 100
    assert list(rows) == [CardRow(2, "AAA-1"), CardRow(3, "BBB-2")]


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            Limits(xlsx_part_bytes=16 * MIB, xlsx_ratio=10_000),
            r"^a part of the \.xlsx file inflates to more than 16 MiB; save the codes",
        ),
        (Limits(xlsx_inflated_bytes=16 * MIB, xlsx_ratio=10_000), r"^the \.xlsx file inflates to more than 16 MiB"),
        (Limits(), r"^a part of the \.xlsx file inflates more than 100 times its stored size \(a zip bomb\?\)"),
    ],
    ids=["one part", "all parts", "ratio"],
)
def test_xlsx_past_each_directory_limit_is_refused(limits: Limits, message: str) -> None:
    bomb = xlsx_bomb("xl/worksheets/sheet1.xml", inflated=20 * MIB)  # 20 KiB stored: 1,000 times
    with pytest.raises(FileRejected, match=message):
        next(read_rows("xlsx", io.BytesIO(bomb), limits))


def test_xlsx_ratio_is_not_held_against_small_parts() -> None:
    # Small parts may compress far (this one 1,000 times): only parts above 100 KiB are judged.
    small = xlsx_bomb("xl/sharedStrings.xml", inflated=100 * 1024, codes=["AAA-1"])
    info = zipfile.ZipFile(io.BytesIO(small)).getinfo("xl/sharedStrings.xml")
    assert info.file_size > 100 * info.compress_size
    assert list(read_rows("xlsx", io.BytesIO(small))) == [CardRow(2, "AAA-1")]


def test_xlsx_with_too_many_parts_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [["code"], ["AAA-1"]])
    with zipfile.ZipFile(path, "a") as archive:
        for n in range(20):
            archive.writestr(f"customXml/item{n}.xml", "<a/>")
    with path.open("rb") as source:
        assert list(read_rows("xlsx", source)) == [CardRow(2, "AAA-1")]
        with pytest.raises(FileRejected, match=r"^the \.xlsx file has more than 20 parts; this is not a card batch$"):
            next(read_rows("xlsx", source, Limits(xlsx_parts=20)))


def test_xlsx_shared_strings_past_the_cap_of_parts_read_whole_are_refused_but_a_sheet_that_size_streams() -> None:
    # openpyxl reads the shared strings whole (a list of every text cell's value) and streams the sheet.
    limits = Limits(xlsx_loaded_part_bytes=2 * MIB, xlsx_ratio=10_000)
    strings = xlsx_bomb("xl/sharedStrings.xml", inflated=3 * MIB)
    with pytest.raises(FileRejected, match=r"^a part of the \.xlsx file inflates to more than 2 MiB; save the codes"):
        next(read_rows("xlsx", io.BytesIO(strings), limits))
    sheet = xlsx_bomb("xl/worksheets/sheet1.xml", inflated=3 * MIB, codes=["AAA-1"])
    assert list(read_rows("xlsx", io.BytesIO(sheet), limits)) == [CardRow(2, "AAA-1")]


def test_xlsx_file_larger_than_an_upload_may_be_is_refused_unread(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", [["code"], ["AAA-1"]])
    with zipfile.ZipFile(path, "a") as archive:  # 2 MiB that do not compress: a picture, say
        archive.writestr("xl/media/image1.png", random.Random(5).randbytes(2 * MIB))  # noqa: S311 - test data
    assert path.stat().st_size > 2 * MIB
    with path.open("rb") as source, pytest.raises(FileRejected, match=r"^the file is larger than 1 MiB; split it"):
        next(read_rows("xlsx", source, Limits(upload_bytes=MIB)))


@pytest.mark.parametrize("kind", ["txt", "csv"])
def test_text_file_larger_than_an_upload_may_be_stops_there_with_flat_memory(kind: FileKind) -> None:
    source = GeneratedCodes(1_000_000, header=b"code\r\n" if kind == "csv" else b"")  # 17 MB, made as read
    rows = read_rows(kind, stream(source), Limits(upload_bytes=MIB))
    seen = sum(1 for _ in islice(rows, 100))  # rows come as they are read, before the cap is reached
    tracemalloc.start()
    try:
        with pytest.raises(FileRejected, match=r"^the file is larger than 1 MiB; split it into smaller files$"):
            sum(1 for _ in rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 100
    assert sum(source.sizes) <= MIB + 65536  # it stopped reading at the cap
    assert peak < MIB


@pytest.mark.parametrize("kind", ["txt", "csv", "xlsx"])
def test_a_file_with_more_rows_than_allowed_is_refused_at_the_first_row_past_it(kind: FileKind, tmp_path: Path) -> None:
    lines = ["AAA-1", "", "BBB-2", "CCC-3", "DDD-4"]  # empty rows do not count
    limits = Limits(rows=3)
    if kind == "xlsx":
        path = write_xlsx(tmp_path / "b.xlsx", [["code"], *[[line or None] for line in lines]])
        source: BinaryIO = path.open("rb")
    else:
        source = io.BytesIO("\n".join(["code", *lines] if kind == "csv" else lines).encode())
    with source:
        rows = read_rows(kind, source, limits)
        assert [row.code for row in islice(rows, 3) if isinstance(row, CardRow)] == ["AAA-1", "BBB-2", "CCC-3"]
        with pytest.raises(
            FileRejected, match=r"^the file has more than 3 rows; split it into files of at most that many$"
        ):
            next(rows)


def test_a_file_of_exactly_the_rows_allowed_is_read_whole() -> None:
    rows = read_rows("txt", io.BytesIO(b"AAA-1\n\nBBB-2\nCCC-3\n\n"), Limits(rows=3))
    assert [row.line for row in rows] == [1, 3, 4]


def test_default_limits_take_the_design_batch_of_a_million_codes() -> None:
    # DESIGN: 1,000,000 codes in one batch. Their rows, and a file of 256-character codes, fit.
    assert LIMITS.rows == 1_000_000
    assert LIMITS.rows * MAX_CODE_LENGTH < LIMITS.upload_bytes
