"""List cursors (`next_cursor` → `cursor=`): an opaque, URL-safe wrapping of the last key a page
showed. A cursor is not signed: it only says where to resume a list the caller may read in full
anyway, so a forged one shows nothing new. It must be exactly of the list's own form, though:
anything else is 422 on `cursor`, never a lookup with a key we did not make."""

from __future__ import annotations

import base64
import binascii
import re

from kayisu.errors import FieldError, validation_error

MAX_CURSOR = 256  # characters; every cursor we hand out is far shorter


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, form: re.Pattern[str]) -> str:
    """The key inside `cursor` if it has the list's `form`, else 422 VALIDATION_ERROR."""
    key = ""
    if len(cursor) <= MAX_CURSOR and re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        try:
            key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not form.fullmatch(key) or encode_cursor(key) != cursor:
        raise validation_error([FieldError("cursor", "is not a cursor this list gave out")])
    return key
