"""Who may reach the admin API (CONTRACT §4, promise 7): API Gateway's JWT authorizer as the
local gateway enforces it, then the group check in the handler."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.integration.conftest import Api, authenticate


def forged(state: dict[str, Any], **claims: Any) -> str:
    """A token signed with the emulator's own Cognito key, so only the claims are wrong."""
    from moto.utilities.utils import load_resource

    keys = load_resource("cognitoidp/resources/jwks-private.json")
    key = RSAKey.import_key(keys)
    now = int(time.time())
    base = {
        "iss": f"https://cognito-idp.{state['region']}.amazonaws.com/{state['user_pool_id']}",
        "aud": state["user_pool_client_id"],
        "token_use": "id",
        "sub": "forged",
        "iat": now,
        "exp": now + 600,
        "cognito:groups": ["operators"],
    }
    base.update(claims)
    return jwt.encode({"alg": "RS256", "kid": keys.get("kid", "dummy")}, base, key)


def test_no_token_is_401(public: Api) -> None:
    r = public.post("/v1/admin/products", {"sku": "X", "name": "x", "price": 1})
    assert r.status_code == 401
    assert public.get("/v1/admin/products").status_code == 401


def test_finance_is_403_forbidden_on_product_creation(finance: Api, public: Api) -> None:
    r = finance.post("/v1/admin/products", {"sku": "FIN-1", "name": "x", "price": 1})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    assert public.get("/v1/products/FIN-1").status_code == 404


def test_a_well_formed_token_passes_the_authorizer(stack: dict[str, Any]) -> None:
    # The control for the forgeries below: same key, right claims, accepted.
    assert Api(stack["api_url"], forged(stack)).get("/v1/admin/products").status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"},
        {"aud": "some-other-client"},
    ],
    ids=["expired", "wrong-issuer", "wrong-audience"],
)
def test_tokens_the_authorizer_rejects(stack: dict[str, Any], claims: dict[str, Any]) -> None:
    assert Api(stack["api_url"], forged(stack, **claims)).get("/v1/admin/products").status_code == 401


def test_tampered_signature_is_401(stack: dict[str, Any], operator: Api) -> None:
    token = str(operator.session.headers["Authorization"]).split()[1]
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    assert Api(stack["api_url"], f"{head}.{payload}.{flipped}").get("/v1/admin/products").status_code == 401


def test_access_token_is_accepted_too(stack: dict[str, Any]) -> None:
    access = authenticate(stack, "operator")["AccessToken"]
    assert Api(stack["api_url"], access).get("/v1/admin/products").status_code == 200


def test_wrong_group_is_403_even_with_an_invalid_body(finance: Api) -> None:
    r = finance.post("/v1/admin/products", {"sku": "not valid!", "price": -1})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
