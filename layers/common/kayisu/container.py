"""Which container this code runs in, for caches that live as long as a container (decrypted
data keys, provider secrets, the digest key). On Lambda a process is one container, so there is
one scope. The local stack runs every function in one process and sets the scope to the
function's name, so that each function pays its own first-use costs, as on AWS (and the
least-privilege test sees each function's own calls)."""

from __future__ import annotations

from collections.abc import Callable

_scope: Callable[[], str] = lambda: ""  # noqa: E731 - replaced by the local stack


def scope() -> str:
    return _scope()


def set_scope(current: Callable[[], str]) -> None:
    global _scope
    _scope = current
