"""Cold start: each handler's import and init, against a bare handler that imports boto3 and
makes one client, in fresh interpreters of the same run (DESIGN: at most 1.3 times)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from local.functions import load_functions
from local.template import Template

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9

PROBE = """
import importlib.util, json, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "-":
    import boto3
    boto3.client("dynamodb", region_name="us-east-1")
else:
    spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps(time.perf_counter() - t0))
"""


def measure(target: str, env: dict[str, str]) -> float:
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, target], env=env, capture_output=True, text=True, check=True, cwd="/"
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples) * 1000


def main() -> None:
    template = Template.load(ROOT / "template.yaml", {})

    def placeholder(lid: str) -> None:
        # No emulator here: resource names only need to exist, not to be real.
        template.refs[lid] = f"bench-{lid}"
        template.attrs[lid] = {"Arn": f"arn:aws:bench:::{lid}"}

    template.create = placeholder
    functions = load_functions(template, ROOT)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base_env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    bare = measure("-", base_env)
    rows = [("bare boto3 + 1 client", bare, 1.0)]
    for fn in sorted(functions.values(), key=lambda f: f.logical_id):
        module = fn.handler_name.rsplit(".", 1)[0]
        ms = measure(str(fn.code_dir / f"{module}.py"), {**base_env, **fn.environment})
        rows.append((fn.logical_id, ms, ms / bare))
    print(f"median of {RUNS} fresh interpreters, import + init")
    print(f"{'handler':<28} {'ms':>8} {'x bare':>8}")
    for name, ms, ratio in rows:
        print(f"{name:<28} {ms:>8.1f} {ratio:>8.2f}")
    print(json.dumps({"cold_start_ms": {name: round(ms, 1) for name, ms, _ in rows}}))
