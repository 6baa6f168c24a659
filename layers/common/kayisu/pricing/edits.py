"""What an operator's PUT of a coupon or a promotion may change (CONTRACT §8): one rule for both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kayisu.errors import FieldError, validation_error


def checked(
    values: dict[str, Any], starts: datetime | None, ends: datetime | None, required: tuple[str, ...]
) -> dict[str, Any]:
    """`values` (the fields sent, `null` meaning remove) for the store: the `required` ones cannot
    be removed, the window (`starts`/`ends` as they are) stays in order, SKUs become a set."""
    for name in required:
        if name in values and values[name] is None:
            raise validation_error([FieldError(name, "cannot be removed")])
    starts, ends = values.get("starts_at", starts), values.get("ends_at", ends)
    if starts is not None and ends is not None and ends <= starts:
        raise validation_error([FieldError("ends_at", "must be after starts_at")])
    if values.get("skus") is not None:
        values["skus"] = set(values["skus"])
    return values
