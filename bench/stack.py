"""A local stack for a benchmark: its own process on free ports, no demo data, no schedules."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def local_stack(parameters: str = "", keep_log: Path | None = None) -> Iterator[dict[str, Any]]:
    """`parameters` as KAYISU_PARAMETERS; the stack's log is copied to `keep_log` at the end."""
    with tempfile.TemporaryDirectory() as state_dir:
        env = {
            **os.environ,
            "KAYISU_PORT": str(free_port()),
            "KAYISU_AWS_PORT": str(free_port()),
            "KAYISU_STATE_DIR": state_dir,
            "KAYISU_PARAMETERS": parameters,
        }
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(var, None)
        log_path = Path(state_dir) / "stack.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "local", "run", "--no-demo", "--no-schedules", "--trust-forwarded-for"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                state_file = Path(state_dir) / "local.json"
                deadline = time.monotonic() + 180
                while not state_file.exists():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("local stack did not start:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.2)
                state: dict[str, Any] = json.loads(state_file.read_text())
                state["state_file"] = str(state_file)
                state["log_path"] = str(log_path)
                yield state
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()  # an emulator holding a million items takes long to free them
                if keep_log is not None:
                    keep_log.parent.mkdir(exist_ok=True)
                    shutil.copyfile(log_path, keep_log)
