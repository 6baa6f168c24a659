"""`python -m local run [--port N] [--aws-port N] [--no-demo] [--no-schedules]
[--trust-forwarded-for] [--verbose]` starts the local stack; `python -m local token
[operator|finance]` prints a bearer token for it."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from local.stack import ROOT, PortTaken, from_environment

LIBRARY_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3", "pynamodb", "moto", "openpyxl")


def run(args: argparse.Namespace) -> int:
    if args.port:
        os.environ["KAYISU_PORT"] = str(args.port)
    if args.aws_port:
        os.environ["KAYISU_AWS_PORT"] = str(args.aws_port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not args.verbose:
        # Their INFO lines ("Found credentials in environment variables", per client) bury ours.
        for library in LIBRARY_LOGGERS:
            logging.getLogger(library).setLevel(logging.WARNING)
    try:
        stack = from_environment(
            demo=not args.no_demo,
            run_schedules=not args.no_schedules,
            trust_forwarded_for=args.trust_forwarded_for,
        )
    except ValueError as exc:
        print(f"kayisu: {exc}", file=sys.stderr)
        return 2
    try:
        state = stack.start()
    except PortTaken as exc:
        print(
            f"kayisu: {exc}. Stop what uses it, or pick another with --port / --aws-port "
            "(or KAYISU_PORT / KAYISU_AWS_PORT).",
            file=sys.stderr,
        )
        return 2
    api = state["api_url"]
    print(
        f"""
Kayisu local stack is up.
  Shop (storefront)   {api}/
  Console (operators) {api}/console/
  API                 {api}/v1/products
  API docs            {api}/docs   (OpenAPI: {api}/v1/openapi.json)
  AWS emulator        {state["aws_endpoint_url"]}  (region {state["region"]})
  Outbox (emails)     {api}/_local/outbox
  Operator login      {state["operator"]["username"]} / {state["operator"]["password"]}
  Finance login       {state["finance"]["username"]} / {state["finance"]["password"]}
  Operator token      .venv/bin/python -m local token operator
  State               {stack.state_dir / "local.json"}
Press Ctrl-C to stop.""",
        flush=True,
    )
    stopped = threading.Event()
    # Both set explicitly: a shell that starts us in the background makes SIGINT ignored, and
    # Python then never raises KeyboardInterrupt, so Ctrl-C (or a test's SIGINT) would do nothing.
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    print("Stopping...", flush=True)
    # A repeated Ctrl-C while stopping is ignored: the interpreter restores the default handler
    # as it finalizes, and a second press there would kill us mid-exit (exit -2). Ctrl-\ still works.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stack.stop()
    lingering = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    if lingering:
        logging.getLogger("kayisu.local").warning("threads still running: %s", lingering)
    return 0


def token(args: argparse.Namespace) -> int:
    from local.seed import id_token

    state_dir = Path(os.environ.get("KAYISU_STATE_DIR", str(ROOT / ".kayisu")))
    path = state_dir / "local.json"
    if not path.exists():
        print(f"kayisu: {path} not found; start the stack with `make run` first.", file=sys.stderr)
        return 2
    print(id_token(json.loads(path.read_text(encoding="utf-8")), args.who))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="Kayisu local stack")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="start the local stack")
    r.add_argument("--port", type=int, help="API port (default 3000, or KAYISU_PORT)")
    r.add_argument("--aws-port", type=int, help="emulator port (default 4566, or KAYISU_AWS_PORT)")
    r.add_argument("--no-demo", action="store_true", help="do not seed demo data")
    r.add_argument("--no-schedules", action="store_true", help="do not run schedules by the clock")
    r.add_argument(
        "--trust-forwarded-for",
        action="store_true",
        help="take the source IP from X-Forwarded-For (tests and benchmarks only: anyone could pick it)",
    )
    r.add_argument("--verbose", action="store_true", help="also show boto3, PynamoDB and moto INFO logs")
    r.set_defaults(func=run)
    t = sub.add_parser("token", help="print an ID token of a demo user")
    t.add_argument("who", nargs="?", default="operator", choices=["operator", "finance"])
    t.set_defaults(func=token)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
