"""Generated redemption codes (专属核销码): random, unguessable, easy to read out and type.

The alphabet has 31 characters without look-alikes (no 0/O, 1/I/L). A code is a prefix (1–8
capitals or digits, `KY` by default), a hyphen, `length` random characters (at least 17:
17 × log2(31) = 84 bits) and a check character (a weighted sum mod 31 over the random part), which
catches any one mistyped character and any two swapped neighbours. A code of this exact shape
with a wrong check character is refused before any lookup, so a typo never counts towards a
partner's lockout. (An uploaded code of the same shape is vanishingly unlikely: a hyphen after a
short prefix, then 18+ characters all from the 31.)
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)
MIN_LENGTH = 17
DEFAULT_LENGTH = 20
MAX_LENGTH = 60
PREFIX = re.compile(r"^[A-Z0-9]{1,8}$")
DEFAULT_PREFIX = "KY"
_FORM = re.compile(rf"^[A-Z0-9]{{1,8}}-[{ALPHABET}]{{{MIN_LENGTH + 1},{MAX_LENGTH + 1}}}$")


def _weight(position: int) -> int:
    return position % (BASE - 1) + 1  # 1..30: never 0 mod 31, and neighbours always differ


def check_character(body: str) -> str:
    """Weighted sum mod 31 (a prime): the check makes Σ weight(i) × value(i) ≡ 0 over the body
    and itself. A wrong character changes the sum by weight × difference, never 0 mod a prime;
    so does a swap of two different neighbours (their weights differ)."""
    total = sum(_weight(i) * ALPHABET.index(ch) for i, ch in enumerate(body))
    w = _weight(len(body))
    return ALPHABET[(-total * pow(w, -1, BASE)) % BASE]


def generate(length: int = DEFAULT_LENGTH, prefix: str = DEFAULT_PREFIX) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{prefix}-{body}{check_character(body)}"


def _body(code: str) -> str:
    return code.rsplit("-", 1)[-1]


def looks_generated(code: str) -> bool:
    """The shape of a generated code: PREFIX-BODY+CHECK, the body in the alphabet."""
    return bool(_FORM.match(code))


def check_ok(code: str) -> bool:
    body = _body(code)
    return check_character(body[:-1]) == body[-1]
