"""An in-process emulator (the local stack's serialised moto) for unit tests that need AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.emulator import Emulator
from tests.support import free_port


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator("127.0.0.1", free_port())
    emu.start()
    yield emu
    emu.stop()
