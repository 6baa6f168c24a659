"""The errors of the money path, as shoppers and providers see them (CONTRACT §1, §2)."""

from __future__ import annotations

from kayisu.errors import Problem, conflict, not_found


def unknown_order(order_id: str | None = None) -> Problem:
    """For a shopper or a provider (no id: nothing said about whether the order exists), or for
    an operator, who may be told which id is unknown."""
    if order_id is not None:
        return not_found("UNKNOWN_ORDER", f"There is no order {order_id!r}.")
    return not_found("UNKNOWN_ORDER", "There is no such order, or the access token does not match it.")


def try_again(detail: str) -> Problem:
    """Contention, not a fault: nothing was done, and the same request may succeed now."""
    return Problem(503, "TRY_AGAIN", "Try again", detail)


def out_of_stock(sku: str) -> Problem:
    return conflict("OUT_OF_STOCK", f"Not enough stock of {sku!r} for this order; nothing was reserved.")


def rate_limited() -> Problem:
    return Problem(
        429,
        "RATE_LIMITED",
        "Too many pending orders",
        "Too many unpaid orders (or units of this product) from this email or network; pay or wait for them to expire.",
    )


def bad_signature() -> Problem:
    return Problem(400, "BAD_SIGNATURE", "Bad signature", "The notification's signature is missing, wrong or stale.")


def amount_mismatch() -> Problem:
    return conflict("AMOUNT_MISMATCH", "The paid amount or currency differs from the order's; it is held for review.")


def provider_unavailable(provider: str) -> Problem:
    return Problem(
        503,
        "PAYMENT_UNAVAILABLE",
        "Payment provider unavailable",
        f"{provider} could not be reached or is not set up; try again, or choose another payment method.",
    )
