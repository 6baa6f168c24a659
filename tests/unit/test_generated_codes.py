"""Generated redemption codes (issue 6): unguessable, readable, and a check character that
catches every single mistyped character."""

from __future__ import annotations

import math

from kayisu.partners.codes import ALPHABET, MIN_LENGTH, check_character, check_ok, generate, looks_generated


def test_the_alphabet_has_no_look_alikes_and_enough_entropy() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 31
    assert not set(ALPHABET) & set("01OIL")
    assert MIN_LENGTH * math.log2(len(ALPHABET)) >= 80


def test_generated_codes_have_the_shape_and_pass_their_check() -> None:
    made = {generate(20, "KY") for _ in range(2000)}
    assert len(made) == 2000
    for code in made:
        assert looks_generated(code)
        assert check_ok(code)
        assert code.startswith("KY-")
        assert len(code) == 3 + 21


def test_every_single_substitution_is_caught() -> None:
    for _ in range(50):
        code = generate(20, "KY")
        for i in range(3, len(code)):
            for c in ALPHABET:
                if c != code[i]:
                    assert not check_ok(code[:i] + c + code[i + 1 :])


def test_every_swap_of_two_different_neighbours_is_caught() -> None:
    caught = total = 0
    for _ in range(300):
        body = generate(20, "KY")[3:]
        for i in range(len(body) - 1):
            if body[i] != body[i + 1]:
                swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
                total += 1
                caught += check_character(swapped[:-1]) != swapped[-1]
    assert caught == total


def test_uploaded_looking_codes_are_not_taken_for_generated_ones() -> None:
    for code in ("ABCD-EFGH-JKMN-PQRS", "GIFT2026ABCDEFGHJKMN", "ky-23456789ABCDEFGHJK", "KY-2345"):
        assert not looks_generated(code)
