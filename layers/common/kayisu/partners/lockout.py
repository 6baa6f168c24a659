"""Guessing codes must not pay (CONTRACT §3): at most 10 INVALID_CODE answers per partner in any
10 minutes, also under concurrent requests; then 429 TOO_MANY_ATTEMPTS until the window passes.

A request may only look a code up while it holds one of the partner's 10 guess slots, taken in
the admission transaction with the nonce (a conditional add to a set, `size(slots) < 10`). A
lookup that finds nothing spends its slot (it stays taken for 10 minutes from its admission);
any other outcome gives it back. So wrong guesses and lookups in flight together never exceed
10, and there can be no 11th INVALID_CODE answer however many requests arrive at once.

When the slots are all taken, the admission reads them: slots whose window has passed are
freed and the admission tried again; slots held by requests still in flight are waited for
(briefly: they are given back within a lookup's time when the code is good); slots spent on
wrong guesses, or left by a request that crashed before it settled its slot (older than any
request can run), lock the partner out until the oldest of them is 10 minutes old. A leaked
slot therefore costs the partner one guess for one window, never more. See docs/partners.md.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from kayisu.store import partners as store
from kayisu.store.txn import back_off

MOST_GUESSES = 10
WINDOW_SECONDS = 600
# An unsettled slot older than this is no request in flight but one that crashed (the redeem
# function's timeout is 29 s): it counts as a guess until its window passes.
IN_FLIGHT_SECONDS = 30
# How long an admission waits for slots held by requests in flight (a partner sending more than
# 10 requests at once) before it answers 429 with a retry in a second.
WAIT_SECONDS = 5.0


class LockedOut(Exception):
    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until  # unix seconds


def admit(partner_id: str, nonce: str, at: datetime) -> store.Slot:
    """Remembers the nonce (store.NonceReused if seen) and takes a guess slot (LockedOut if the
    partner has none left)."""
    started = time.monotonic()
    attempt = 0
    while True:
        elapsed = time.monotonic() - started
        now = at + timedelta(seconds=elapsed)
        try:
            return store.admit(partner_id, nonce, now, MOST_GUESSES, 2 * WINDOW_SECONDS)
        except store.WindowFull:
            slots, misses = store.load_slots(partner_id)
        now_ms = int(now.timestamp() * 1000)
        window_start = now_ms - WINDOW_SECONDS * 1000
        passed = {e for e in slots if store.slot_time_ms(e) <= window_start}
        passed_misses = {e for e in misses if store.slot_time_ms(e) <= window_start}
        if passed or passed_misses:
            store.free_slots(partner_id, passed, passed_misses)
        taken = slots - passed
        in_flight = {e for e in taken - misses if store.slot_time_ms(e) > now_ms - IN_FLIGHT_SECONDS * 1000}
        if elapsed < WAIT_SECONDS and len(taken) < MOST_GUESSES:
            continue  # freed now or meanwhile: try again at once
        if elapsed < WAIT_SECONDS and in_flight:
            attempt += 1
            back_off(attempt)  # requests in flight give their slots back within a lookup's time
            continue
        if in_flight or len(taken) < MOST_GUESSES:
            raise LockedOut(now_ms / 1000 + 1)
        oldest = min(store.slot_time_ms(e) for e in taken)
        raise LockedOut(oldest / 1000 + WINDOW_SECONDS)
