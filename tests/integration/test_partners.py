"""Partner redemption (CONTRACT §3, issue 6; promises 4 and 7): signed, exactly once under
concurrency, the same answer for every code a partner may not know about, and a lockout
for guessing."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kayisu.partners.codes import ALPHABET
from tests.integration.conftest import Api, aws, upload_batch, wait_for_batch
from tests.integration.partner import Partner, age_slots, bought_codes, guess_slots, new_partner
from tests.integration.shop import new_codes, order, pay, stock, stocked_product, wait_for
from tests.support import scan_items


def test_a_partner_is_issued_once_and_listed_without_its_secret(operator: Api, finance: Api, new_sku: str) -> None:
    stocked_product(operator, new_sku, [])
    made = operator.post("/v1/admin/partners", {"name": "星光影城 Starlight Cinema", "skus": [new_sku]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("kps_")
    assert len(body["secret"]) >= 40
    assert (body["name"], body["skus"], body["status"]) == ("星光影城 Starlight Cinema", [new_sku], "active")
    listed = operator.get("/v1/admin/partners").json()["items"]
    mine = next(p for p in listed if p["partner_id"] == body["partner_id"])
    assert "secret" not in mine
    assert body["secret"] not in operator.get(f"/v1/admin/partners/{body['partner_id']}").text
    assert finance.get("/v1/admin/partners").status_code == 403
    bad = operator.post("/v1/admin/partners", {"name": "x", "skus": ["NO-SUCH-SKU"]})
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")
    assert operator.get("/v1/admin/partners/ptn_nobody").json()["code"] == "UNKNOWN_PARTNER"


def test_verify_redeem_retry_and_the_loser(stack: dict[str, Any], public: Api, operator: Api, new_sku: str) -> None:
    code, second = bought_codes(stack, public, operator, new_sku, 2)
    cinema, shop = new_partner(stack, operator, [new_sku]), new_partner(stack, operator)
    assert cinema.verify(code).json() == {"status": "valid", "sku": new_sku, "redeemed_at": None}

    first = cinema.redeem(code, "ticket-0001")
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["sku"], made["reference"]) == (new_sku, "ticket-0001")
    assert made["redemption_id"].startswith("rdm_")
    again = cinema.redeem(code, "ticket-0001")  # a retry: the first result
    assert (again.status_code, again.json()) == (200, made)
    late = shop.redeem(code, "till-9")
    assert (late.status_code, late.json()["code"], late.json()["redeemed_at"]) == (
        409,
        "ALREADY_REDEEMED",
        made["redeemed_at"],
    )
    assert code not in late.text
    assert cinema.verify(code).json() == {"status": "redeemed", "sku": new_sku, "redeemed_at": made["redeemed_at"]}
    shown = cinema.send("GET", f"/v1/partner/redemptions/{made['redemption_id']}")
    assert (shown.status_code, shown.json()) == (200, made)
    other = shop.send("GET", f"/v1/partner/redemptions/{made['redemption_id']}")
    assert (other.status_code, other.json()["code"]) == (404, "UNKNOWN_REDEMPTION")
    assert stock(operator, new_sku)["redeemed"] == 1
    reused = cinema.redeem(second, "ticket-0001")  # the reference of another code
    assert (reused.status_code, reused.json()["code"]) == (409, "REFERENCE_REUSED")
    assert cinema.verify(second).json()["status"] == "valid"


def test_twenty_partners_redeem_one_code_at_once_and_exactly_one_wins(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    partners = [new_partner(stack, operator, name=f"P{i}") for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda p: p.redeem(code, f"ref-{p.partner_id}"), partners))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19, [a.text for a in answers if a.status_code not in (201, 409)]
    winner = next(a.json() for a in answers if a.status_code == 201)
    assert {a.json()["redeemed_at"] for a in answers if a.status_code == 409} == {winner["redeemed_at"]}
    assert stock(operator, new_sku)["redeemed"] == 1


def test_one_request_retried_at_once_redeems_once(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    counter = new_partner(stack, operator)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: counter.redeem(code, "order-77"), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["redemption_id"] for a in answers}) == 1
    assert stock(operator, new_sku)["redeemed"] == 1


def test_forged_stale_replayed_and_disabled_requests_are_refused(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    partner = new_partner(stack, operator)
    path, body = "/v1/partner/verifications", {"code": code}
    refused = [
        partner.send("POST", path, body, timestamp=str(int(time.time()) - 360)),
        partner.send("POST", path, body, timestamp=str(int(time.time()) + 360)),
        partner.send("POST", path, body, **{"X-Kayisu-Signature": "0" * 64}),
        Partner(stack["api_url"], partner.partner_id, "kps_wrong").verify(code),
        Partner(stack["api_url"], "ptn_unknown", partner.secret).verify(code),
        partner.send("POST", path, body, nonce="short"),
        partner.send("POST", path, body, **{"X-Kayisu-Partner": ""}),
    ]
    # Signed for one body, sent with another.
    headers = partner.headers("POST", path, b'{"code": "something else"}')
    refused.append(
        partner.session.post(stack["api_url"] + path, data=b'{"code": "%s"}' % code.encode(), headers=headers)
    )
    # Signed for another path.
    headers = partner.headers("POST", "/v1/partner/redemptions", b'{"code": "x"}')
    refused.append(partner.session.post(stack["api_url"] + path, data=b'{"code": "x"}', headers=headers))
    # The same nonce twice: the replay fails.
    nonce = "n" * 16 + str(time.time_ns())
    assert partner.send("POST", path, body, nonce=nonce).status_code == 200
    refused.append(partner.send("POST", path, body, nonce=nonce))
    for answer in refused:
        assert (answer.status_code, answer.json()["code"]) == (401, "BAD_SIGNATURE"), answer.text
        assert code not in answer.text
    # A disabled partner (disabled before it is ever cached).
    fresh = new_partner(stack, operator)
    assert operator.put(f"/v1/admin/partners/{fresh.partner_id}", {"status": "disabled"}).json()["status"] == "disabled"
    assert fresh.verify(code).status_code == 401
    # Bad input from a good partner is 422, after the signature.
    empty = partner.send("POST", path, {"code": ""})
    assert (empty.status_code, empty.json()["code"]) == (422, "VALIDATION_ERROR")


def test_unknown_unsold_out_of_scope_and_void_codes(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    sold, refunded = bought_codes(stack, public, operator, new_sku, 2)
    unsold = new_codes(1, prefix="UNSOLD")[0]
    assert upload_batch(operator, new_sku, "more.txt", unsold)["imported"] == 1
    other = new_sku + "-OTHER"
    (elsewhere,) = bought_codes(stack, public, operator, other, 1)
    partner = new_partner(stack, operator, [new_sku])
    answers = [partner.verify(c) for c in ("NEVER-ISSUED-123", unsold, elsewhere)]
    answers += [partner.redeem(c) for c in ("NEVER-ISSUED-123", unsold, elsewhere)]
    bodies = {(a.status_code, a.json()["code"], a.json()["detail"]) for a in answers}
    assert bodies == {(404, "INVALID_CODE", "This code cannot be redeemed here.")}  # one answer for all
    assert partner.verify(sold).json()["status"] == "valid"

    # The order is refunded: its codes become void.
    orders = operator.get("/v1/admin/orders", params={"status": "delivered"}).json()["items"]
    mine = next(o for o in orders if o["sku"] == new_sku)
    assert operator.post(f"/v1/admin/orders/{mine['order_id']}/refund", {"reason": "test"}).status_code == 200
    assert partner.verify(refunded).json()["status"] == "void"
    voided = partner.redeem(refunded)
    assert (voided.status_code, voided.json()["code"]) == (409, "CODE_VOID")


def test_ten_invalid_codes_lock_a_partner_out_until_the_window_passes(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    guesser, honest = new_partner(stack, operator), new_partner(stack, operator)
    answers = [guesser.redeem(f"GUESS-{i:04d}") for i in range(10)]
    assert [a.status_code for a in answers] == [404] * 10
    locked = guesser.verify(code)  # even a good code waits
    assert (locked.status_code, locked.json()["code"]) == (429, "TOO_MANY_ATTEMPTS")
    assert 1 <= int(locked.headers["Retry-After"]) <= 600
    assert honest.verify(code).json()["status"] == "valid"  # others are not affected

    slots, misses = guess_slots(stack, guesser.partner_id)
    assert len(slots) == 10
    assert misses == slots  # every slot spent on a wrong guess; the good code gave nothing back

    age_slots(stack, guesser.partner_id, 601)  # ten minutes later
    assert guesser.verify(code).json()["status"] == "valid"
    assert guesser.redeem("GUESS-AGAIN").status_code == 404  # one new miss does not lock again
    assert guesser.verify(code).status_code == 200
    slots, misses = guess_slots(stack, guesser.partner_id)
    assert len(slots) == len(misses) == 1  # the passed window's slots were freed


def test_thirty_wrong_codes_at_once_get_at_most_ten_answers(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    guesser = new_partner(stack, operator)
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda i: guesser.redeem(f"GUESS-{i:04d}"), range(30)))
    got = Counter((a.status_code, a.json()["code"]) for a in answers)
    assert got == {(404, "INVALID_CODE"): 10, (429, "TOO_MANY_ATTEMPTS"): 20}, got
    locked = guesser.verify(code)  # a good code waits too: its answer would tell a guess apart
    assert (locked.status_code, locked.json()["code"]) == (429, "TOO_MANY_ATTEMPTS")
    assert 1 <= int(locked.headers["Retry-After"]) <= 600
    slots, misses = guess_slots(stack, guesser.partner_id)
    assert len(slots) == 10
    assert misses == slots

    age_slots(stack, guesser.partner_id, 601)
    assert guesser.verify(code).json()["status"] == "valid"


def test_good_requests_between_wrong_guesses_give_their_slot_back(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    code, other = bought_codes(stack, public, operator, new_sku, 2)
    partner = new_partner(stack, operator)
    made = partner.redeem(code, "desk-1").json()
    for i in range(9):
        assert partner.redeem(f"GUESS-{i:04d}").status_code == 404
        assert partner.verify(other).json()["status"] == "valid"
        assert partner.redeem(code, "desk-1").status_code == 200  # a retry: the first result
        assert partner.redeem(code, "desk-2").status_code == 409  # already redeemed
        assert partner.send("GET", f"/v1/partner/redemptions/{made['redemption_id']}").status_code == 200
        assert partner.verify("").status_code == 422  # refused before any lookup
    slots, misses = guess_slots(stack, partner.partner_id)
    assert (len(slots), misses) == (9, slots)  # only the wrong guesses hold a slot
    with ThreadPoolExecutor(8) as pool:  # one slot left: good lookups at once take turns in it
        at_once = list(pool.map(lambda _: partner.verify(other), range(8)))
    assert [a.status_code for a in at_once] == [200] * 8, [a.text for a in at_once if a.status_code != 200]
    assert partner.redeem("GUESS-LAST").status_code == 404  # the tenth
    refused = partner.verify(other)
    assert (refused.status_code, refused.json()["code"]) == (429, "TOO_MANY_ATTEMPTS")


def test_more_good_requests_at_once_than_slots_all_get_through(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    codes = bought_codes(stack, public, operator, new_sku, 20)
    counter = new_partner(stack, operator)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda c: counter.redeem(c, f"till-{c}"), codes))
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert guess_slots(stack, counter.partner_id) == ([], [])  # every slot given back


def test_a_rotated_secret_keeps_the_old_one_for_its_grace_period(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    old = new_partner(stack, operator)
    rotated = operator.post(f"/v1/admin/partners/{old.partner_id}/secret", {"grace_seconds": 3600})
    assert rotated.status_code == 200, rotated.text
    new = Partner(stack["api_url"], old.partner_id, rotated.json()["secret"])
    assert rotated.json()["previous_secret_valid_until"] is not None
    assert new.verify(code).status_code == 200
    assert old.verify(code).status_code == 200  # within the grace period
    again = operator.post(f"/v1/admin/partners/{old.partner_id}/secret", {"grace_seconds": 0})
    newest = Partner(stack["api_url"], old.partner_id, again.json()["secret"])
    time.sleep(10.5)  # the function keeps a partner for 10 s
    assert newest.verify(code).status_code == 200
    assert new.verify(code).status_code == 401


def test_every_attempt_is_audited_by_digest_never_by_code(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    (code,) = bought_codes(stack, public, operator, new_sku, 1)
    partner = new_partner(stack, operator)
    partner.verify(code)
    partner.redeem(code, "audit-1")
    partner.redeem(code, "audit-2")
    partner.redeem("NOPE-" + code)
    items = scan_items(
        aws(stack, "dynamodb"),
        TableName=stack["resources"]["PartnersTable"],
        FilterExpression="partner_id = :p AND #k = :a",
        ExpressionAttributeNames={"#k": "kind"},
        ExpressionAttributeValues={":p": {"S": partner.partner_id}, ":a": {"S": "attempt"}},
    )
    outcomes = sorted((i["action"]["S"], i["outcome"]["S"]) for i in items)
    assert outcomes == [
        ("redeem", "already_redeemed"),
        ("redeem", "invalid"),
        ("redeem", "redeemed"),
        ("verify", "valid"),
    ]
    assert all(len(i["digest"]["S"]) == 64 for i in items)
    everything = str(scan_items(aws(stack, "dynamodb"), TableName=stack["resources"]["PartnersTable"]))
    assert code not in everything
    assert partner.secret not in everything


def test_generated_codes_are_sold_redeemed_and_typos_caught_before_a_lookup(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    stocked_product(operator, new_sku, [], max_per_order=2)
    made = operator.post("/v1/admin/batches/generate", {"sku": new_sku, "count": 50, "prefix": "CINE"})
    assert made.status_code == 201, made.text
    batch = wait_for_batch(operator, made.json()["batch_id"])
    assert (batch["status"], batch["imported"], batch["duplicates"]) == ("completed", 50, 0)
    assert (
        aws(stack, "s3")
        .list_objects_v2(Bucket=stack["resources"]["CardsBucket"], Prefix="incoming/")
        .get("KeyCount", 0)
        == 0
    )  # no plaintext left behind
    placed = order(public, new_sku, quantity=2).json()
    assert pay(stack, placed).status_code == 200
    first, second = (c["code"] for c in wait_for(public, placed)["cards"])
    for code in (first, second):
        prefix, body = code.split("-")
        assert prefix == "CINE"
        assert len(body) == 21  # 20 random + the check character
        assert set(body) <= set(ALPHABET)
        assert not set(body) & set("01ILO")
    partner = new_partner(stack, operator)
    typo = first[:-2] + next(c for c in ALPHABET if c != first[-2]) + first[-1]
    for _ in range(12):  # never counted: no lookup was spent
        answer = partner.verify(typo)
        assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "code")
    assert partner.redeem(first).status_code == 201
    assert partner.verify(second).json()["status"] == "valid"
    bad = operator.post("/v1/admin/batches/generate", {"sku": new_sku, "count": 10, "length": 12})
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")  # under 80 bits
