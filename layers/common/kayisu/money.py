"""Money is an integer in minor units; a currency is one we know the minor unit of."""

from __future__ import annotations

# ISO 4217 codes we accept, with their number of minor-unit digits.
MINOR_UNITS: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "TWD": 2,
    "MOP": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "MYR": 2,
    "THB": 2,
    "JPY": 0,
    "KRW": 0,
}

MAX_AMOUNT = 10**12  # minor units; far above any voucher, far below float or JSON trouble


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def format_amount(amount: int, currency: str) -> str:
    """`1990, "CNY"` → `19.90 CNY`, for people (never parsed back)."""
    digits = MINOR_UNITS.get(currency, 2)
    if digits == 0:
        return f"{amount} {currency}"
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d} {currency}"
