"""Card batch ingestion through the local stack (CONTRACT §5, promises 3, 6 and 8): what an
operator uploads becomes encrypted, globally unique cards, with a report of what happened."""

from __future__ import annotations

import codecs
import io
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from openpyxl import Workbook  # type: ignore[import-untyped]

from tests.integration.conftest import Api, aws, upload_batch, wait_for_batch
from tests.support import run_as_function, scan_items, stage_batch, stock_shards, xlsx_bomb

ROOT = Path(__file__).resolve().parents[2]


def codes(n: int, tag: str = "") -> list[str]:
    return [f"K{tag}-{secrets.token_hex(8).upper()}" for _ in range(n)]


@pytest.fixture
def sku(operator: Api, new_sku: str) -> str:
    r = operator.post(
        "/v1/admin/products", {"sku": new_sku, "name": "ingest test", "price": 1000, "alert_threshold": 0}
    )
    assert r.status_code == 201
    return new_sku


def stock(operator: Api, sku: str) -> dict[str, int]:
    items = {i["sku"]: i for i in operator.get("/v1/admin/stock").json()["items"]}
    return dict(items[sku])


def conserved(level: dict[str, int]) -> bool:
    return level["available"] + level["reserved"] + level["sold"] + level["void"] == level["imported"]


def test_txt_batch_imports_every_code_and_stock_rises_by_exactly_that(operator: Api, public: Api, sku: str) -> None:
    batch = upload_batch(operator, sku, "cards.txt", "\r\n".join(codes(120)) + "\r\n\r\n")
    assert batch["status"] == "completed", batch
    assert (batch["rows"], batch["imported"], batch["duplicates"], batch["rejected"]) == (120, 120, 0, 0)
    level = stock(operator, sku)
    assert (level["imported"], level["available"]) == (120, 120)
    assert conserved(level)
    shown = public.get(f"/v1/products/{sku}").json()
    assert (shown["available"], shown["stock_status"]) == (120, "in_stock")


def test_csv_in_gb18030_with_quotes_and_optional_columns(operator: Api, sku: str) -> None:
    rows = [
        "code,serial,expires_at,face_value",
        'A-1,"序列号 1",2027-12-31,10000',
        '"B,2","with ""quotes""",,',
        "  C-3  ,,2027-01-01,500",
    ]
    body = codecs.encode("\r\n".join(rows) + "\r\n", "gb18030")
    batch = upload_batch(operator, sku, "导出.csv", body)
    assert (batch["status"], batch["rows"], batch["imported"], batch["rejected"]) == ("completed", 3, 3, 0)


def test_xlsx_first_sheet_with_numeric_codes(operator: Api, sku: str) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["code", "serial", "face_value"])
    base = 90_000_000_000_000 + secrets.randbelow(10**9) * 1000
    for i in range(30):
        ws.append([base + i, f"S{i}", 5000])
    buf = io.BytesIO()
    wb.save(buf)
    batch = upload_batch(operator, sku, "export.xlsx", buf.getvalue())
    assert (batch["status"], batch["imported"]) == ("completed", 30), batch


def test_bad_rows_are_reported_by_line_and_reason_never_by_code(operator: Api, sku: str) -> None:
    good = codes(3)
    secret_bad = "SECRET-" + secrets.token_hex(4) + "\x07"
    lines = [
        "code,expires_at,face_value",
        f"{good[0]},2027-01-01,100",
        f"{secret_bad},,",
        f"{good[1]},not-a-date,",
        f"{good[2]},,12.5",
        "",
        f"{'L' * 257},,",
        ",,7",
    ]
    batch = upload_batch(operator, sku, "mixed.csv", "\n".join(lines) + "\n")
    assert batch["status"] == "completed"
    assert (batch["rows"], batch["imported"], batch["rejected"]) == (6, 1, 5)
    report = requests.get(batch["rejects_url"], timeout=10)
    assert report.status_code == 200
    text = report.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "line,reason"
    lines_reported = [int(row.split(",", 1)[0]) for row in text.splitlines()[1:]]
    assert lines_reported == [3, 4, 5, 7, 8]
    for code in [*good, secret_bad, "L" * 257]:
        assert code not in text


def test_the_same_file_twice_imports_nothing_the_second_time(operator: Api, sku: str) -> None:
    content = "\n".join(codes(50))
    first = upload_batch(operator, sku, "a.txt", content)
    second = upload_batch(operator, sku, "a.txt", content)
    assert (first["imported"], second["imported"], second["duplicates"]) == (50, 0, 50)
    assert stock(operator, sku)["imported"] == 50


def test_a_code_twice_in_one_file_and_across_skus_is_a_duplicate(operator: Api, sku: str, new_sku: str) -> None:
    mine = codes(5)
    batch = upload_batch(operator, sku, "twice.txt", "\n".join([*mine, mine[0], mine[4]]))
    assert (batch["imported"], batch["duplicates"]) == (5, 2)
    other = f"{new_sku}-B"
    operator.post("/v1/admin/products", {"sku": other, "name": "other", "price": 1})
    elsewhere = upload_batch(operator, other, "same.txt", "\n".join(mine[:2]))
    assert (elsewhere["imported"], elsewhere["duplicates"]) == (0, 2)


def test_overlapping_files_uploaded_concurrently_leave_no_code_twice(operator: Api, sku: str) -> None:
    shared = codes(150, "S")
    files = [shared + codes(50, f"U{i}") for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        batches = list(pool.map(lambda f: upload_batch(operator, sku, "overlap.txt", "\n".join(f)), files))
    assert sum(b["imported"] for b in batches) == 150 + 3 * 50
    assert sum(b["duplicates"] for b in batches) == 2 * 150
    level = stock(operator, sku)
    assert level["imported"] == level["available"] == 300


def test_unknown_sku_fails_the_batch_and_imports_nothing(stack: dict[str, Any], operator: Api) -> None:
    s3 = aws(stack, "s3")
    key = f"incoming/NO-SUCH-SKU-{secrets.token_hex(3)}/cards.txt"
    s3.put_object(Bucket=stack["resources"]["CardsBucket"], Key=key, Body=b"\n".join(c.encode() for c in codes(3)))
    batch = wait_for_batch(operator, find_batch(stack, key))
    assert batch["status"] == "failed"
    assert "unknown SKU" in batch["error"]
    assert batch["imported"] == 0
    assert "Contents" not in s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=key)


def test_direct_upload_is_ingested_and_deleted(stack: dict[str, Any], operator: Api, sku: str) -> None:
    s3 = aws(stack, "s3")
    key = f"incoming/{sku}/直接上传 batch.txt"
    s3.put_object(Bucket=stack["resources"]["CardsBucket"], Key=key, Body="\n".join(codes(7)).encode())
    batch = wait_for_batch(operator, find_batch(stack, key))
    assert (batch["status"], batch["imported"]) == ("completed", 7)
    assert "Contents" not in s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=key)


def test_unsupported_file_type_is_refused_up_front(operator: Api, sku: str) -> None:
    r = operator.post("/v1/admin/batches", {"sku": sku, "filename": "cards.xls"})
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR")
    r = operator.post("/v1/admin/batches", {"sku": "NO-SUCH-SKU", "filename": "cards.csv"})
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_SKU")


def test_csv_without_a_code_column_fails_with_a_clear_error(operator: Api, sku: str) -> None:
    batch = upload_batch(operator, sku, "wrong.csv", "serial,face_value\nS1,100\n")
    assert batch["status"] == "failed"
    assert "code" in batch["error"]


def test_void_takes_unsold_cards_out_of_stock(operator: Api, sku: str) -> None:
    batch = upload_batch(operator, sku, "v.txt", "\n".join(codes(20)))
    voided = operator.post(f"/v1/admin/batches/{batch['batch_id']}/void").json()
    assert (voided["voided"], voided["held"]) == (20, 0)
    level = stock(operator, sku)
    assert (level["available"], level["void"], level["imported"]) == (0, 20, 20)
    assert conserved(level)
    assert operator.post(f"/v1/admin/batches/{batch['batch_id']}/void").json()["voided"] == 0
    assert operator.get(f"/v1/admin/batches/{batch['batch_id']}").json()["voided"] == 20
    r = operator.post("/v1/admin/batches/b-nosuchbatch000000000/void")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_BATCH")


@pytest.mark.parametrize(("step", "when"), [("3", "before"), ("3", "after"), ("finish", "before"), ("finish", "after")])
def test_a_crash_around_a_commit_then_retry_imports_every_row_once(
    stack: dict[str, Any], operator: Api, sku: str, tmp_path: Path, step: str, when: str
) -> None:
    """Ingestion runs in its own process here, against the stack's emulator, so that a failure
    can be injected just before or after the third chunk's transaction, or the batch's end."""
    good = codes(400)
    lines = [*good[:200], "x" * 300, *good[200:], good[7]]  # one reject, one repeat
    batch_id = stage_batch(stack, sku, io.BytesIO("\n".join(lines).encode()), "chaos.txt")
    runs = run_as_function("tests.integration.ingest_chaos", stack, tmp_path, batch_id, step, when)
    assert runs[0] == {"attempt": 1, "injected": f"{when} commit"}
    assert runs[-1]["outcome"] == "completed"

    batch = operator.get(f"/v1/admin/batches/{batch_id}").json()
    assert batch["status"] == "completed"
    assert (batch["rows"], batch["imported"], batch["rejected"], batch["duplicates"]) == (402, 400, 1, 1)
    report = requests.get(batch["rejects_url"], timeout=10).content.decode("utf-8-sig").splitlines()
    assert report == ["line,reason", "201,code longer than 256 characters"]
    s3 = aws(stack, "s3")
    leftovers = [o["Key"] for o in s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"]).get("Contents", [])]
    assert not [k for k in leftovers if batch_id in k]  # the upload is gone
    cards = [
        i for i in scan(stack, "CardsTable") if i.get("batch_id", {}).get("S") == batch_id and i["sk"]["S"] == "CARD"
    ]
    assert len(cards) == 400
    level = stock(operator, sku)
    assert level["imported"] == level["available"] == 400


def find_batch(stack: dict[str, Any], key: str, timeout: float = 30) -> str:
    """A direct upload's batch, found by its key (operators see it in the batch report too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in scan(stack, "CardsTable"):
            if item.get("s3_key", {}).get("S") == key:
                return str(item["batch_id"]["S"])
        time.sleep(0.2)
    pytest.fail(f"no batch for {key}")


def scan(stack: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return scan_items(aws(stack, "dynamodb"), TableName=stack["resources"][table])


def test_a_batch_longer_than_one_invocation_continues_and_completes(public: Api, operator: Api, sku: str) -> None:
    # The test stack gives each ingest invocation one second (IngestSliceSeconds=1).
    before = sends_of(public, "IngestFunction")
    batch = upload_batch(operator, sku, "big.txt", "\n".join(codes(6000)), timeout=180)
    assert (batch["status"], batch["rows"], batch["imported"]) == ("completed", 6000, 6000)
    assert sends_of(public, "IngestFunction") > before  # it handed itself on at least once
    level = stock(operator, sku)
    assert level["imported"] == level["available"] == 6000


def sends_of(public: Api, function: str) -> int:
    calls = public.get("/_local/calls").json()["items"]
    return sum(c["count"] for c in calls if c["function"] == function and c["operation"] == "SendMessage")


def test_a_file_damaged_part_way_keeps_the_rows_before_and_fails(operator: Api, sku: str) -> None:
    good = codes(150)
    content = "code\n" + "\n".join(good) + '\n"never closed,\n' + "\n".join(codes(5)) + "\n"
    batch = upload_batch(operator, sku, "damaged.csv", content)
    assert batch["status"] == "failed"
    assert batch["imported"] == 150
    assert "150" in batch["error"]
    level = stock(operator, sku)
    assert level["imported"] == level["available"] == 150


def test_a_second_upload_to_a_used_url_is_not_ingested_and_not_kept(
    stack: dict[str, Any], operator: Api, sku: str
) -> None:
    started = operator.post("/v1/admin/batches", {"sku": sku, "filename": "once.txt"}).json()
    requests.put(started["upload_url"], data="\n".join(codes(10)).encode(), timeout=30)
    first = wait_for_batch(operator, started["batch_id"])
    assert first["imported"] == 10
    requests.put(started["upload_url"], data="\n".join(codes(10)).encode(), timeout=30)
    s3 = aws(stack, "s3")
    deadline = time.monotonic() + 30
    while "Contents" in s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=started["s3_key"]):
        assert time.monotonic() < deadline, "the second upload was kept in plaintext"
        time.sleep(0.2)
    assert operator.get(f"/v1/admin/batches/{started['batch_id']}").json()["imported"] == 10
    assert stock(operator, sku)["imported"] == 10


def test_void_waits_until_the_batch_has_finished(operator: Api, sku: str) -> None:
    started = operator.post("/v1/admin/batches", {"sku": sku, "filename": "later.txt"}).json()
    r = operator.post(f"/v1/admin/batches/{started['batch_id']}/void")
    assert (r.status_code, r.json()["code"]) == (409, "BATCH_NOT_FINISHED")


def test_a_failure_before_or_after_any_aws_call_then_redelivery_ends_exactly_right(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    """DESIGN: an exception injected before and after every AWS call, each followed by the
    normal retry. Each scenario is a fresh batch of 250 codes, 2 bad rows and 1 repeat."""
    scenarios = run_as_function("tests.integration.ingest_every_call", stack, tmp_path, timeout=600)
    assert len(scenarios) > 20  # the clean run and two per AWS call it makes
    s3, catalog = aws(stack, "s3"), stack["resources"]["CatalogTable"]
    for s in scenarios:
        where = f"failure {s['when']} call {s['fail_at']} ({s['injected']}; {s['calls']} calls in all)"
        # "after" a call that itself failed (a duplicate cancelling its transaction) never comes.
        assert s["fail_at"] == 0 or s["when"] == "after" or s["injected"], where
        assert (s["status"], s["rows"], s["imported"], s["rejected"], s["duplicates"]) == (
            "completed",
            253,
            250,
            2,
            1,
        ), where
        shards = list(stock_shards(aws(stack, "dynamodb"), catalog, s["sku"]).values())
        imported = sum(int(i["imported"]["N"]) for i in shards if "imported" in i)
        assert imported == 250, where
        upload = s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=s["s3_key"])
        assert "Contents" not in upload, where
        report = s3.get_object(Bucket=stack["resources"]["ReportsBucket"], Key=s["rejects_key"])["Body"].read()
        assert report.decode("utf-8-sig").splitlines()[1:] == [
            "121,code longer than 256 characters",
            "252,code has non-printable characters",
        ], where


def test_an_upload_with_a_form_content_type_is_stored_whole(operator: Api, sku: str) -> None:
    # What urllib and `curl --data-binary` send: S3 keeps the bytes whatever the type.
    started = operator.post("/v1/admin/batches", {"sku": sku, "filename": "curl.txt"}).json()
    body = "\n".join(codes(12)).encode()
    put = requests.put(
        started["upload_url"], data=body, timeout=30, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert put.status_code == 200
    batch = wait_for_batch(operator, started["batch_id"])
    assert (batch["rows"], batch["imported"]) == (12, 12)


def test_an_xlsx_zip_bomb_fails_its_batch_at_once_and_is_deleted(
    stack: dict[str, Any], public: Api, operator: Api, sku: str
) -> None:
    """A 1 MB .xlsx whose shared strings inflate to 1 GiB: refused from its zip directory, before
    openpyxl would hold them, so the invocation ends normally (no retry, nothing in the DLQ)."""
    bomb = xlsx_bomb("xl/sharedStrings.xml", inflated=1 << 30, codes=codes(3))
    assert len(bomb) < 2 << 20
    sqs = aws(stack, "sqs")
    queue, dlq = stack["resources"]["IngestQueue"], stack["resources"]["IngestDLQ"]
    dead_before = waiting(sqs, dlq)
    reads_before = reads_of_uploads(public, stack)
    started = operator.post("/v1/admin/batches", {"sku": sku, "filename": "bomb.xlsx"}).json()
    assert requests.put(started["upload_url"], data=bomb, timeout=30).status_code == 200
    batch = wait_for_batch(operator, started["batch_id"])
    assert batch["status"] == "failed", batch
    assert batch["error"].startswith("the .xlsx file inflates to more than 512 MiB of XML"), batch["error"]
    assert (batch["rows"], batch["imported"], batch["rejected"], batch["duplicates"]) == (0, 0, 0, 0)
    assert "rejects_url" not in batch  # nothing was read, so no row to report
    assert stock(operator, sku)["imported"] == 0
    s3 = aws(stack, "s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=started["s3_key"])
    # The invocation succeeded: its message is deleted, not waiting to be redelivered up to five times.
    deadline = time.monotonic() + 30
    while waiting(sqs, queue):
        assert time.monotonic() < deadline, "the ingest message is still on the queue"
        time.sleep(0.2)
    assert waiting(sqs, dlq) == dead_before
    assert reads_of_uploads(public, stack) == reads_before + 1  # one attempt read it, once
    final = operator.get(f"/v1/admin/batches/{started['batch_id']}").json()
    assert (final["status"], final["error"]) == ("failed", batch["error"])


@pytest.mark.parametrize("filename", ["huge.txt", "huge.csv", "huge.xlsx"])
def test_a_file_over_the_size_cap_fails_its_batch_unread_and_is_deleted(
    stack: dict[str, Any], operator: Api, sku: str, tmp_path: Path, filename: str
) -> None:
    """Run with the cap at 1 MiB (tests/integration/ingest_limits.py): a 2 MB file is refused by
    its S3 size before a row is read (a text file is not imported part way, an .xlsx not spooled)."""
    lines = codes(80_000)  # 21 bytes a line; random, so an .xlsx compresses them little
    if filename.endswith(".xlsx"):
        book = Workbook()
        for code in ["code", *lines]:
            book.active.append([code])
        body = io.BytesIO()
        book.save(body)
        content = body.getvalue()
    else:
        content = "\n".join(["code", *lines] if filename.endswith(".csv") else lines).encode()
    assert len(content) > 1 << 20
    batch_id = stage_batch(stack, sku, io.BytesIO(content), filename)
    assert run_as_function("tests.integration.ingest_limits", stack, tmp_path, batch_id) == [{"outcome": "failed"}]
    batch = operator.get(f"/v1/admin/batches/{batch_id}").json()
    assert batch["status"] == "failed"
    assert batch["error"] == "the file is larger than 1 MiB; split it into smaller files"
    assert (batch["rows"], batch["imported"]) == (0, 0)
    s3 = aws(stack, "s3")
    leftovers = s3.list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix=f"staging/{sku}/{batch_id}/")
    assert "Contents" not in leftovers


def waiting(sqs: Any, queue_url: str) -> int:
    """Messages on a queue, visible or being processed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def reads_of_uploads(public: Api, stack: dict[str, Any]) -> int:
    calls = public.get("/_local/calls").json()["items"]
    bucket = stack["resources"]["CardsBucket"]
    return sum(
        c["count"]
        for c in calls
        if c["function"] == "IngestFunction" and c["operation"] == "GetObject" and c["resource"] == bucket
    )
