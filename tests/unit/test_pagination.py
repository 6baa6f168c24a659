"""List cursors: only a cursor of the list's own form is taken (issue 9)."""

from __future__ import annotations

import re

import pytest

from kayisu.errors import Problem
from kayisu.pagination import decode_cursor, encode_cursor

FORM = re.compile(r"\d{4}-\d{2}-\d{2}#ord_[a-z0-9]+")


def test_a_cursor_handed_out_comes_back_as_its_key() -> None:
    key = "2026-11-24#ord_abc123"
    assert decode_cursor(encode_cursor(key), FORM) == key


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        encode_cursor("2026-11-24#ord_"),  # no id
        encode_cursor("2026-11-24T08:00:00#ord_abc"),  # another form
        encode_cursor("2026-11-24#ord_abc") + "A",  # trailing bits
        encode_cursor("2026-11-24#ord_abc") + "==",
        "é" * 10,
        "A" * 10_000,
        encode_cursor("2026-11-24#ord_abc\n"),
        "",
    ],
)
def test_anything_else_is_422_on_cursor(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor, FORM)
    assert (caught.value.status, caught.value.code) == (422, "VALIDATION_ERROR")
    assert [e.field for e in caught.value.errors] == ["cursor"]
