"""Helpers shared by the test suites."""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import boto3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emulator_client(state: dict[str, Any], service: Any) -> Any:
    """A boto3 client of a local stack's emulator (state: its local.json)."""
    return boto3.client(
        service,
        region_name=state["region"],
        endpoint_url=state["aws_endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stage_batch(state: dict[str, Any], sku: str, body: BinaryIO, filename: str = "staged.txt") -> str:
    """A batch record and its file under staging/, where the stack's own ingest worker (which
    watches incoming/) leaves it alone: for running ingestion in another process."""
    batch_id = f"b-{secrets.token_hex(10)}"
    key = f"staging/{sku}/{batch_id}/{filename}"
    emulator_client(state, "s3").upload_fileobj(body, state["resources"]["CardsBucket"], key)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
    emulator_client(state, "dynamodb").put_item(
        TableName=state["resources"]["CardsTable"],
        Item={
            "pk": {"S": f"BATCH#{batch_id}"},
            "sk": {"S": "BATCH"},
            "kind": {"S": "batch"},
            "batch_id": {"S": batch_id},
            "sku": {"S": sku},
            "filename": {"S": filename},
            "s3_key": {"S": key},
            "status": {"S": "pending"},
            "position": {"N": "0"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
        },
    )
    return batch_id


def become_a_function(state_file: str) -> dict[str, Any]:
    """For a script that runs domain code in its own process against a local stack: the
    environment every function sees there (template Globals) and the stack's emulator."""
    with open(state_file, encoding="utf-8") as fh:
        state: dict[str, Any] = json.load(fh)
    os.environ.update({k: str(v) for k, v in state["function_environment"].items()})
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": state["aws_endpoint_url"],
            "AWS_DEFAULT_REGION": state["region"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    return state


def run_as_function(module: str, state: dict[str, Any], workdir: Path, *args: str, timeout: float = 120) -> list[Any]:
    """Runs `python -m module STATE_FILE args...` (a script using become_a_function) and
    returns the JSON lines it printed."""
    state_file = workdir / "state.json"
    state_file.write_text(json.dumps(state))
    out = subprocess.run(
        [sys.executable, "-m", module, str(state_file), *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines()]


_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_bomb(part: str = "xl/sharedStrings.xml", inflated: int = 1 << 30, codes: Sequence[str] = ("BOMB-1",)) -> bytes:
    """A small, well-formed .xlsx: a `code` column holding `codes` as shared strings, whose `part`
    (its shared strings or its sheet, xl/worksheets/sheet1.xml) inflates to `inflated` bytes of XML,
    padded with whitespace, which deflate shrinks about 1,000 times (1 GiB is a 1 MB file).

    The deflate stream is one compressed MiB of spaces repeated: each copy ends in a full flush,
    so no copy refers to another, and the file takes a moment to make, never 1 GiB of memory."""
    import openpyxl  # type: ignore[import-untyped]

    strings = ["code", *codes]
    sst = f'<?xml version="1.0"?><sst xmlns="{_MAIN_NS}">' + "".join(f"<si><t>{s}</t></si>" for s in strings)
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="s"><v>{n - 1}</v></c></row>' for n in range(1, len(strings) + 1))
    sheet = f'<?xml version="1.0"?><worksheet xmlns="{_MAIN_NS}"><sheetData>{rows}'
    parts: dict[str, tuple[str, str]] = {  # name: (the XML up to the padding, after it)
        "xl/sharedStrings.xml": (sst, "</sst>"),
        "xl/worksheets/sheet1.xml": (sheet, "</sheetData></worksheet>"),
    }
    buffer = io.BytesIO()
    openpyxl.Workbook().save(buffer)
    members: list[tuple[str, bytes, int, int]] = []
    with zipfile.ZipFile(buffer) as base:
        for name in base.namelist():
            if name in parts:
                continue
            data = base.read(name)
            if name == "[Content_Types].xml":
                override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}" />'
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            members.append(_deflated(name, [data]))
    for name, (head, tail) in parts.items():
        if name != part:
            members.append(_deflated(name, [head.encode(), tail.encode()]))
    start, end = (text.encode() for text in parts[part])
    blocks, rest = divmod(inflated - len(start) - len(end), 1 << 20)
    members.append(_deflated(part, [start, *[b" " * (1 << 20)] * blocks, b" " * rest + end]))
    return _zip(members)


def _deflated(name: str, pieces: list[bytes]) -> tuple[str, bytes, int, int]:
    """(name, raw deflate data, CRC-32, size) of the concatenated pieces; equal pieces in a row
    are compressed once (each piece is a full-flushed, self-contained run of deflate blocks)."""
    out, crc, size = bytearray(), 0, 0
    previous: tuple[bytes, bytes] | None = None
    for number, piece in enumerate(pieces):
        if previous is None or previous[0] is not piece:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            last = number == len(pieces) - 1
            previous = (
                piece,
                compressor.compress(piece) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH),
            )
        out += previous[1]
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    return name, bytes(out), crc, size


def _zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip archive of already deflated members (zipfile compresses only what it is given whole)."""
    out, directory = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded, offset = name.encode(), len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(out), 0)
    return bytes(out + directory + end)


MAX_STOCK_SHARDS = 32  # the template's StockShards at most: reading them all finds any count


def stock_shards(ddb: Any, table: str, sku: str) -> dict[int, dict[str, Any]]:
    """A SKU's stock shard items as the emulator holds them (raw attributes), by shard number:
    one consistent BatchGetItem of every shard key the template allows."""
    from kayisu.store.catalog import SHARD_SK, shard_pk

    keys = {shard_pk(sku, n): n for n in range(MAX_STOCK_SHARDS)}
    request = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": SHARD_SK}} for pk in keys], "ConsistentRead": True}}
    found: dict[int, dict[str, Any]] = {}
    while request:
        answer = ddb.batch_get_item(RequestItems=request)
        for item in answer["Responses"].get(table, []):
            found[keys[item["pk"]["S"]]] = item
        request = answer.get("UnprocessedKeys") or {}
    return found


def scan_items(ddb: Any, **scan: Any) -> list[dict[str, Any]]:
    """Every item a Scan finds, all pages: a page stops at 1 MB of the items *read* (before the
    filter), so on a session's grown table one page of a filtered Scan can miss what it seeks."""
    return [item for page in ddb.get_paginator("scan").paginate(**scan) for item in page["Items"]]
