"""Catalog rules that need no AWS: stock status and what a product may look like."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kayisu.catalog.schemas import ProductCreate, ProductUpdate, StockStatus
from kayisu.catalog.service import stock_status


@given(available=st.integers(min_value=-5, max_value=10_000), threshold=st.integers(min_value=0, max_value=10_000))
def test_stock_status_partitions_all_counts(available: int, threshold: int) -> None:
    status = stock_status(available, threshold)
    if available <= 0:
        assert status is StockStatus.OUT_OF_STOCK
    elif available <= threshold:
        assert status is StockStatus.LOW
    else:
        assert status is StockStatus.IN_STOCK


def test_low_includes_the_threshold_itself() -> None:
    assert stock_status(5, 5) is StockStatus.LOW
    assert stock_status(6, 5) is StockStatus.IN_STOCK


def valid(**change: object) -> dict[str, object]:
    return {"sku": "GIFT-100", "name": "Gift card", "price": 9800, "currency": "CNY", **change}


def test_defaults_for_optional_fields() -> None:
    p = ProductCreate.model_validate(valid())
    assert (p.max_per_order, p.alert_threshold, p.status, p.description) == (10, 10, "active", "")


@pytest.mark.parametrize(
    "change",
    [
        {"price": -1},
        {"price": 19.9},
        {"price": "9800"},
        {"price": True},
        {"currency": "XYZ"},
        {"currency": "cny"},
        {"sku": "has space"},
        {"sku": ""},
        {"sku": "x" * 65},
        {"name": ""},
        {"max_per_order": 0},
        {"alert_threshold": -1},
        {"status": "deleted"},
        {"colour": "red"},
    ],
)
def test_rejects_bad_products(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProductCreate.model_validate(valid(**change))


def test_update_cannot_change_the_sku() -> None:
    with pytest.raises(ValidationError):
        ProductUpdate.model_validate({"sku": "OTHER"})
    assert ProductUpdate.model_validate({"price": 1}).model_dump(exclude_none=True) == {"price": 1}
