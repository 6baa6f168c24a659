"""A function that lacks a setting it needs fails its cold start, naming the variable
(kayisu.config.require), rather than failing its first AWS call with an obscure error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kayisu.config import SettingsError, get_settings, require


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()  # nobody after this test sees its environment


def test_the_settings_a_function_needs_are_checked_at_start(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ORDERS_TABLE", "kayisu-orders")
    environment.delenv("CATALOG_TABLE", raising=False)
    environment.setenv("AWS_LAMBDA_FUNCTION_NAME", "kayisu-checkout")
    assert require("orders_table").orders_table == "kayisu-orders"
    with pytest.raises(SettingsError, match=r"^kayisu-checkout cannot start: CATALOG_TABLE not set"):
        require("orders_table", "catalog_table")


def test_a_misspelt_setting_is_refused(environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="no such setting: order_table"):
        require("order_table")


def test_an_invalid_value_fails_with_its_name(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STOCK_SHARDS", "0")
    with pytest.raises(ValueError, match="stock_shards"):
        require("orders_table")
