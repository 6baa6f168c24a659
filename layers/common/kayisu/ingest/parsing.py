"""Card batch files (.txt, .csv, .xlsx) read as a stream of good rows and rejected rows.

Nothing here holds a whole file: text is split into lines 64 KiB at a time and an .xlsx sheet is
read with openpyxl's read-only mode, so memory stays flat however long the file is. Codes are
secrets: a rejection says where (the line) and why, and no message built here ever contains any
part of a row.

What one file may hold is `Limits` (the defaults are `LIMITS`): its size, its rows, and for an
.xlsx (a zip) what it inflates to, checked from the zip's directory before openpyxl opens it, so
that a small file that inflates to gigabytes is refused instead of exhausting the function.

Errors come in two sizes. A bad row is a `RejectedRow` among the good ones; a file that cannot be
read at all (no `code` column, not an .xlsx, broken CSV quoting, ...) raises `FileRejected`. As
`read_rows` is lazy, `FileRejected` is raised while iterating: before the first row for a bad
header, later for damage further down the file.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, BinaryIO, Literal, Protocol

FileKind = Literal["txt", "csv", "xlsx"]

MAX_CODE_LENGTH = 256
MAX_LINE_BYTES = 1 << 20  # a physical line longer than this is not a card batch
MAX_RECORD_CHARS = 1 << 16  # one CSV record; stays below csv.field_size_limit() (128 Ki)

# Reasons of rejected rows: fixed strings, so that reports are consistent and never carry content.
REASON_EMPTY_CODE = "empty code"
REASON_CODE_TOO_LONG = f"code longer than {MAX_CODE_LENGTH} characters"
REASON_CODE_NOT_PRINTABLE = "code has non-printable characters"
REASON_CODE_NOT_TEXT = "code cell is not text or an exact whole number; format the code column as text"
REASON_BAD_EXPIRES_AT = "expires_at is not a date (YYYY-MM-DD)"
REASON_BAD_FACE_VALUE = "face_value is not a whole number of minor units"
REASON_UNDECODABLE = "text is neither UTF-8 nor GB18030"

_KINDS: dict[str, FileKind] = {"txt": "txt", "csv": "csv", "xlsx": "xlsx"}
_CHUNK_SIZE = 65536
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Excel keeps 15 significant digits: a float beyond that may already have lost digits of a code.
_EXACT_FLOAT_LIMIT = 1e15
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")
_NOT_XLSX = "not a readable .xlsx file"
_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one card batch file may hold; a file past any of these is refused (`FileRejected`).

    Sized by DESIGN's ingestion figure, 1,000,000 codes in under 300 MB: a file of a million rows
    passes, one that would need more memory or hours does not. Split bigger batches into files.
    """

    # The file as uploaded: 1,000,000 rows of up to 256-character codes. Checked against the S3
    # object's size before reading, and counted while a text file streams or an .xlsx spools.
    upload_bytes: int = 256 * _MIB
    rows: int = 1_000_000  # non-empty rows after the header
    # An .xlsx, from its zip directory (Python's zipfile stops a part at its declared size and
    # fails its CRC, so a part cannot inflate past what the directory says):
    xlsx_parts: int = 1_000  # Excel writes about a dozen
    xlsx_inflated_bytes: int = 512 * _MIB  # all parts together
    # One part. A worksheet is streamed: 1,000,000 rows of code, serial, expires_at and
    # face_value as Excel writes them are about 200 MB of XML.
    xlsx_part_bytes: int = 256 * _MIB
    # A part openpyxl reads whole while it opens the workbook: the shared strings (every text
    # cell's value, as a list), styles, the workbook, relationships. Its memory is up to 9 times
    # the XML (measured: 2-character strings), so 32 MiB stays under 300 MB; that is 1,000,000
    # distinct codes of 16 characters. More or longer codes: use .csv, which streams.
    xlsx_loaded_part_bytes: int = 32 * _MIB
    # Inflated / compressed size of a part above xlsx_ratio_from_bytes: Apache POI's zip-bomb
    # defaults. Real sheets compress 5 to 20 times; deflate's limit is about 1,030.
    xlsx_ratio: int = 100
    xlsx_ratio_from_bytes: int = 100 * 1024


LIMITS = Limits()


@dataclass(frozen=True)
class CardRow:
    line: int  # 1-based line in the file (xlsx: sheet row); a CSV record spanning lines: where it starts
    code: str  # trimmed
    serial: str | None = None
    expires_at: date | None = None
    face_value: int | None = None


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str  # human readable, never contains row content


class FileRejected(Exception):
    """The whole file cannot be read; str(exc) is a clear reason without any row content."""


def file_too_large(limits: Limits = LIMITS) -> FileRejected:
    return FileRejected(f"the file is larger than {limits.upload_bytes // _MIB} MiB; split it into smaller files")


def kind_of(filename: str) -> FileKind:
    """The kind of a card batch file by its extension, case-insensitive."""
    _, dot, extension = filename.rpartition(".")
    extension = extension.lower() if dot else ""
    kind = _KINDS.get(extension)
    if kind is None:
        shown = f" '.{extension}'" if extension.isalnum() and len(extension) <= 10 else ""
        raise FileRejected(f"unsupported file type{shown}; use .csv, .txt or .xlsx")
    return kind


def read_rows(kind: FileKind, source: BinaryIO, limits: Limits = LIMITS) -> Iterator[CardRow | RejectedRow]:
    """The rows of a card batch file, in file order, lazily.

    For txt and csv, `source` may be any non-seekable stream: only `source.read(n)` is used. For
    xlsx it must be a seekable binary file; it is left open (the caller owns it). Nothing is read
    before iteration starts, and `FileRejected` is raised during iteration: a file past `limits`
    in size or inflated size before its first row, one with too many rows at the row after the last
    one allowed.
    """
    rows: Generator[CardRow | RejectedRow, None, None]
    if kind == "txt":
        rows = _read_txt(source, limits)
    elif kind == "csv":
        rows = _read_csv(source, limits)
    elif kind == "xlsx":
        rows = _read_xlsx(source, limits)
    else:
        raise FileRejected("unsupported file type; use .csv, .txt or .xlsx")
    try:
        for count, row in enumerate(rows, start=1):
            if count > limits.rows:
                raise FileRejected(
                    f"the file has more than {limits.rows:,} rows; split it into files of at most that many"
                )
            yield row
    finally:
        rows.close()  # at once, also when the caller stops early: an .xlsx closes its workbook


# -- text: lines, encodings


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class _Line:
    number: int
    text: str  # without its line ending; undecodable bytes as lone surrogates
    decoded: bool  # False: neither UTF-8 nor GB18030


def _physical_lines(source: _Readable, limits: Limits) -> Iterator[bytes]:
    """The stream's lines without b"\\n" or b"\\r\\n", split at the byte level (no GB18030 multi-byte
    sequence contains 0x0A), reading one chunk at a time, up to `limits.upload_bytes`."""
    pending = b""
    count = 0
    size = 0
    while chunk := source.read(_CHUNK_SIZE):
        size += len(chunk)
        if size > limits.upload_bytes:
            raise file_too_large(limits)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            count += 1
            if len(line) > MAX_LINE_BYTES:
                raise _line_too_long(count)
            yield line[:-1] if line.endswith(b"\r") else line
        if len(pending) > MAX_LINE_BYTES:
            raise _line_too_long(count + 1)
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


def _line_too_long(number: int) -> FileRejected:
    return FileRejected(f"line {number} is longer than {MAX_LINE_BYTES} bytes; this is not a card batch")


def _decoded_lines(source: _Readable, limits: Limits) -> Iterator[_Line]:
    for number, raw in enumerate(_physical_lines(source, limits), start=1):
        if number == 1:
            if raw.startswith(_UTF16_BOMS):
                raise FileRejected("the file is UTF-16 text; save it as UTF-8 (or GB18030) instead")
            raw = raw.removeprefix(_UTF8_BOM)
        try:
            text, decoded = raw.decode("utf-8"), True
        except UnicodeDecodeError:
            try:
                text, decoded = raw.decode("gb18030"), True
            except UnicodeDecodeError:
                text, decoded = raw.decode("utf-8", "surrogateescape"), False
        if number == 1:
            text = text.removeprefix("\ufeff")  # a GB18030 byte order mark
        yield _Line(number, text, decoded)


def _read_txt(source: _Readable, limits: Limits) -> Generator[CardRow | RejectedRow, None, None]:
    for line in _decoded_lines(source, limits):
        if not line.decoded:
            yield RejectedRow(line.number, REASON_UNDECODABLE)
            continue
        code = line.text.strip()
        if not code:
            continue
        problem = _code_problem(code)
        yield RejectedRow(line.number, problem) if problem else CardRow(line.number, code)


# -- csv


class _CsvLines:
    """The decoded lines csv.reader reads, and what they were for the record being read."""

    def __init__(self, source: _Readable, limits: Limits) -> None:
        self._lines = _decoded_lines(source, limits)
        self.lines_read = 0
        self.exhausted = False
        self.record_start = 1
        self.record_decoded = True
        self._record_chars = 0

    def start_record(self) -> None:
        self.record_start = self.lines_read + 1
        self.record_decoded = True
        self._record_chars = 0

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise
        self.lines_read = line.number
        self.record_decoded = self.record_decoded and line.decoded
        self._record_chars += len(line.text) + 1
        if self._record_chars > MAX_RECORD_CHARS:
            raise FileRejected(
                f"the CSV record starting on line {self.record_start} is longer than {MAX_RECORD_CHARS} characters"
                " (is a quote left open?)"
            )
        return line.text + "\n"  # csv keeps the newlines inside quoted fields from the text it reads


@dataclass(frozen=True)
class _Record:
    line: int
    fields: list[str]
    decoded: bool


def _csv_records(source: _Readable, limits: Limits) -> Iterator[_Record]:
    lines = _CsvLines(source, limits)
    # strict: a quote left open up to the end of the file is an error, not one huge last field
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            if lines.exhausted:
                raise FileRejected(f"a quoted field opened on line {lines.record_start} is never closed") from None
            raise FileRejected(f"line {lines.lines_read} is not valid CSV (check its quotes)") from None
        yield _Record(lines.record_start, fields, lines.record_decoded)


def _read_csv(source: _Readable, limits: Limits) -> Generator[CardRow | RejectedRow, None, None]:
    records = _csv_records(source, limits)
    header = next(records, None)
    if header is not None and not header.decoded:
        raise FileRejected("the header row is neither UTF-8 nor GB18030 text")
    columns = _columns(header.fields if header else [])
    for record in records:
        if _is_blank(record.fields):
            continue
        if not record.decoded:
            yield RejectedRow(record.line, REASON_UNDECODABLE)
            continue
        yield _row(record.line, record.fields, columns)


# -- xlsx


def _read_xlsx(source: BinaryIO, limits: Limits) -> Generator[CardRow | RejectedRow, None, None]:
    _check_archive(source, limits)
    workbook = _open_workbook(source, limits)
    try:
        if not workbook.worksheets:
            raise FileRejected("the .xlsx file has no worksheet")
        sheet = workbook.worksheets[0]
        # A read-only sheet stops at the size its <dimension> claims, and some writers get it wrong.
        sheet.reset_dimensions()
        rows = _sheet_rows(sheet.iter_rows(values_only=True))
        header = next(rows, None)
        columns = _columns(header or ())
        for number, cells in enumerate(rows, start=2):
            if not _is_blank(cells):
                yield _row(number, cells, columns)
    finally:
        workbook.close()  # a read-only workbook keeps its zip open until closed


def _sheet_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """The sheet's rows; damage found while reading them rejects the file."""
    while True:
        try:
            with warnings.catch_warnings():
                # openpyxl warns about odd cells quoting their value (a code, maybe): not into our logs
                warnings.simplefilter("ignore")
                row = next(rows)
        except StopIteration:
            return
        except _PartTooLarge as exc:
            raise exc.rejected() from None
        except Exception:
            # not chained: openpyxl's messages may quote a cell's value too
            raise FileRejected(_NOT_XLSX) from None
        yield row


def _check_archive(source: BinaryIO, limits: Limits) -> None:
    """Refuses an .xlsx by its zip directory alone, before any part is inflated."""
    if source.seek(0, io.SEEK_END) > limits.upload_bytes:
        raise file_too_large(limits)
    source.seek(0)
    try:
        with zipfile.ZipFile(source) as archive:  # a file object passed in stays open
            parts = archive.infolist()
    except Exception:
        raise FileRejected(_NOT_XLSX) from None
    advice = "save the codes as .csv, or split them into smaller files"
    if len(parts) > limits.xlsx_parts:
        raise FileRejected(f"the .xlsx file has more than {limits.xlsx_parts:,} parts; this is not a card batch")
    if sum(part.file_size for part in parts) > limits.xlsx_inflated_bytes:
        raise FileRejected(
            f"the .xlsx file inflates to more than {limits.xlsx_inflated_bytes // _MIB} MiB of XML; {advice}"
        )
    for part in parts:
        if part.file_size > limits.xlsx_part_bytes:
            raise _PartTooLarge(limits.xlsx_part_bytes).rejected()
        if part.file_size > limits.xlsx_ratio_from_bytes and part.file_size > limits.xlsx_ratio * part.compress_size:
            raise FileRejected(
                f"a part of the .xlsx file inflates more than {limits.xlsx_ratio} times its stored size"
                f" (a zip bomb?); {advice}"
            )


def _open_workbook(source: BinaryIO, limits: Limits) -> Any:
    """The read-only workbook, opened as `openpyxl.load_workbook` opens it (`ExcelReader.read`,
    step by step: openpyxl 3.1, pinned), over an archive that holds every part openpyxl reads whole
    (shared strings, styles, the workbook, relationships, a chart sheet) to the smaller cap. Only
    the worksheets, which it streams, may inflate further, and only from the step that opens them.
    A part too large raises `FileRejected` before any of it is inflated."""
    from openpyxl.reader.excel import ExcelReader  # type: ignore[import-untyped]  # not at import: ~70 ms
    from openpyxl.styles.stylesheet import apply_stylesheet  # type: ignore[import-untyped]

    archive: _CappedArchive | None = None
    try:
        reader = ExcelReader(source, read_only=True, data_only=True)
        reader.archive.close()  # its own ZipFile of `source` (which stays open), replaced:
        reader.archive = archive = _CappedArchive(source, limits)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        reader.read_properties()
        reader.read_custom()
        reader.read_theme()
        apply_stylesheet(archive, reader.wb)
        links = [rel for _, rel in reader.parser.find_sheets()]
        charts = {rel.target for rel in links if "chartsheet" in rel.Type}
        archive.streamed = frozenset(
            rel.target for rel in links if rel.target not in charts and not rel.target.endswith(".rels")
        )
        reader.read_worksheets()
        reader.parser.assign_names()
    except Exception as exc:
        if archive is not None:
            archive.close()  # no workbook will close it
        # not chained: openpyxl's messages may quote a cell's value
        raise (exc.rejected() if isinstance(exc, _PartTooLarge) else FileRejected(_NOT_XLSX)) from None
    return reader.wb


class _PartTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self.cap = cap

    def rejected(self) -> FileRejected:
        return FileRejected(
            f"a part of the .xlsx file inflates to more than {self.cap // _MIB} MiB; save the codes as .csv,"
            " or split them into smaller files"
        )


class _CappedArchive(zipfile.ZipFile):
    """The workbook's zip as openpyxl reads it: opening a part (`read` opens it too) that inflates
    past its cap raises `_PartTooLarge` before anything of it is inflated. The cap is
    `xlsx_loaded_part_bytes`, or `xlsx_part_bytes` for the worksheets in `streamed`."""

    def __init__(self, source: BinaryIO, limits: Limits) -> None:
        super().__init__(source)
        self.limits = limits
        self.streamed: frozenset[str] = frozenset()

    def open(
        self,
        name: str | zipfile.ZipInfo,
        mode: Literal["r", "w"] = "r",
        pwd: bytes | None = None,
        *,
        force_zip64: bool = False,
    ) -> IO[bytes]:
        if mode == "r":
            info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
            streamed = info.filename in self.streamed
            cap = self.limits.xlsx_part_bytes if streamed else self.limits.xlsx_loaded_part_bytes
            if info.file_size > cap:
                raise _PartTooLarge(cap)
        return super().open(name, mode, pwd, force_zip64=force_zip64)


# -- rows and their fields


@dataclass(frozen=True)
class _Columns:
    code: int
    serial: int | None
    expires_at: int | None
    face_value: int | None


def _columns(header: Sequence[object]) -> _Columns:
    """Where the known columns are; names are trimmed and case-insensitive, others ignored."""
    names = [str(name).replace("\ufeff", "").strip().lower() if name is not None else "" for name in header]
    if not any(names):
        raise FileRejected("the header row is empty; the first row must name the columns (code, ...)")
    found: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in ("code", "serial", "expires_at", "face_value"):
            if name in found:
                raise FileRejected(f"the header has more than one '{name}' column")
            found[name] = position
    if "code" not in found:
        raise FileRejected("the header has no 'code' column")
    return _Columns(found["code"], found.get("serial"), found.get("expires_at"), found.get("face_value"))


class _Invalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _row(line: int, cells: Sequence[object], columns: _Columns) -> CardRow | RejectedRow:
    def cell(position: int | None) -> object:
        return cells[position] if position is not None and position < len(cells) else None

    try:
        code = _code(cell(columns.code))
        return CardRow(
            line,
            code,
            serial=_serial(cell(columns.serial)),
            expires_at=_expires_at(cell(columns.expires_at)),
            face_value=_face_value(cell(columns.face_value)),
        )
    except _Invalid as invalid:
        return RejectedRow(line, invalid.reason)


def _is_blank(cells: Sequence[object]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _code_problem(code: str) -> str | None:
    """What is wrong with a trimmed code, if anything."""
    if not code:
        return REASON_EMPTY_CODE
    if len(code) > MAX_CODE_LENGTH:
        return REASON_CODE_TOO_LONG
    if not code.isprintable():
        return REASON_CODE_NOT_PRINTABLE
    return None


def _code(value: object) -> str:
    """A code from a CSV field or an xlsx cell; Excel stores numeric-looking codes as numbers."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_LIMIT:
        text = str(int(value))  # 12345678901234, not 1.2345678901234e13 nor 12345678901234.0
    else:  # a date, a bool, a fraction or a number too long to be exact
        raise _Invalid(REASON_CODE_NOT_TEXT)
    problem = _code_problem(text)
    if problem:
        raise _Invalid(problem)
    return text


def _serial(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_LIMIT:
        return str(int(value))
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text.strip() or None


def _expires_at(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _ISO_DATE.fullmatch(text):  # fromisoformat alone also takes 20250101, 2025-W01-1, ...
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    raise _Invalid(REASON_BAD_EXPIRES_AT)


def _face_value(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 0:
            return value
    elif isinstance(value, float):
        if value.is_integer() and 0 <= value < _EXACT_FLOAT_LIMIT:
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _DIGITS.fullmatch(text):  # ASCII digits only: int() would also take "1_000" and "١٢"
            try:
                return int(text)
            except ValueError:  # more digits than int() converts
                pass
    raise _Invalid(REASON_BAD_FACE_VALUE)
