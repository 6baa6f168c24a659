"""`kayisu`: upload card batches, watch them import, check stock, fetch reports.

Results go to stdout (tables, JSON, a batch id, a file name) so they can be piped; progress,
status and errors go to stderr. Exit codes: 0 ok, 1 the API (or S3, or Cognito) said no or could
not be reached, 2 usage or configuration (including "not logged in"), 3 a batch ended `failed`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__, session
from .client import FINAL_STATUSES, AdminClient, ApiError, Batch, StockItem, download
from .session import ConfigError, Target
from .upload import FileChanged, StatusLine, upload_file

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_BATCH_FAILED = 3
EXIT_INTERRUPTED = 130

POLL_INTERVAL = 1.0  # seconds between two looks at a batch
# Consecutive transient failures (5xx, no answer) tolerated while waiting on a batch.
POLL_RETRIES = 3


class WaitTimeout(Exception):
    def __init__(self, batch_id: str, status: str, timeout: float) -> None:
        super().__init__(f"batch {batch_id} is still {status} after {timeout:g} s")


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- context ------------------------------------------------------------------------------


class Context:
    """The target and an authenticated client, made on first use (login needs neither)."""

    def __init__(self, api: str | None) -> None:
        self._api = api
        self._target: Target | None = None

    @property
    def resolved(self) -> Target | None:
        """The target if it was worked out already (error hints must not trigger discovery)."""
        return self._target

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = session.resolve_target(self._api)
        return self._target

    def client(self) -> AdminClient:
        target = self.target
        token = session.bearer_token(target, notify=note)

        def renew() -> str:
            # A stored local token outlives a restart of the stack (new pool): log in again once.
            return session.login_demo_operator(target, notify=note)

        return AdminClient(target.api_url, token, renew_token=renew if target.local is not None else None)


# --- rendering ----------------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> str:
    """Columns padded to their widest cell; the `right` ones (numbers) right-aligned."""
    widths = [max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def format_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"{key.ljust(width)}  {value}".rstrip() for key, value in pairs)


def _count(value: object) -> str:
    return f"{value}" if isinstance(value, int) else "-"


def render_batch(batch: Batch) -> str:
    pairs = [
        ("batch", batch.get("batch_id", "")),
        ("sku", batch.get("sku", "")),
        ("status", batch.get("status", "")),
        ("rows", _count(batch.get("rows"))),
        ("imported", _count(batch.get("imported"))),
        ("duplicates", _count(batch.get("duplicates"))),
        ("rejected", _count(batch.get("rejected"))),
    ]
    if batch.get("rejects_url"):
        pairs.append(("rejects", f"{batch['rejects_url']}  (CSV: line, reason; the link expires)"))
    if batch.get("error"):
        pairs.append(("error", str(batch["error"])))
    return format_pairs(pairs)


def stock_state(item: StockItem) -> str:
    """The storefront's rule: out at 0, low at or below the alert threshold."""
    available, threshold = item.get("available"), item.get("alert_threshold")
    if not isinstance(available, int):
        return "-"
    if available <= 0:
        return "out"
    if isinstance(threshold, int) and available <= threshold:
        return "low"
    return "ok"


def render_stock(items: Sequence[StockItem]) -> str:
    headers = ["SKU", "AVAILABLE", "RESERVED", "SOLD", "REDEEMED", "VOID", "ALERT AT", "STATE"]
    keys = ["available", "reserved", "sold", "redeemed", "void", "alert_threshold"]
    rows = [[str(item.get("sku", "")), *(_count(item.get(k)) for k in keys), stock_state(item)] for item in items]
    return format_table(headers, rows, right=frozenset(range(1, 7)))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def batch_exit(batch: Batch) -> int:
    if batch.get("status") == "failed":
        note(f"kayisu: batch {batch.get('batch_id')} failed: {batch.get('error') or 'no reason given'}")
        return EXIT_BATCH_FAILED
    return EXIT_OK


# --- commands -----------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace, ctx: Context) -> int:
    target = ctx.target
    credentials = session.credentials_for(target, args.username)
    stored = session.login(target, credentials, region=args.region, client_id=args.client_id)
    claims = session.token_claims(stored.id_token)
    groups = [str(g) for g in claims.get("cognito:groups", []) if isinstance(g, str)]
    until = stored.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    note(
        f"logged in to {target.api_url} as {credentials.username}"
        f"{' (' + ', '.join(groups) + ')' if groups else ''}; the session lasts until {until}"
    )
    if "cognito:groups" in claims and not session.ADMIN_GROUPS.intersection(groups):
        note("warning: this user is in neither `operators` nor `finance`: admin routes will answer 403")
    return EXIT_OK


def wait_for_batch(client: AdminClient, batch_id: str, timeout: float) -> Batch:
    """Polls until the batch is completed or failed, one status line on stderr."""
    deadline = time.monotonic() + timeout
    line = StatusLine()
    failures = 0
    status = "unknown (the API did not answer)"
    try:
        while True:
            try:
                batch = client.get_batch(batch_id)
                failures = 0
            except ApiError as exc:
                failures += 1
                if (exc.status != 0 and exc.status < 500) or failures > POLL_RETRIES:
                    raise
                line.show(f"batch {batch_id}: {exc.code}, retrying")
            else:
                rows, status = batch.get("rows"), str(batch.get("status"))
                so_far = f", {rows:,} rows so far" if status == "processing" and isinstance(rows, int) else ""
                line.show(f"batch {batch_id}: {status}{so_far}")
                if batch.get("status") in FINAL_STATUSES:
                    return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(batch_id, status, timeout)
            time.sleep(min(POLL_INTERVAL, remaining))
    finally:
        line.done()


def cmd_batch_upload(args: argparse.Namespace, ctx: Context) -> int:
    path: Path = args.file
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    client = ctx.client()
    created = client.create_batch(args.sku, path.name)
    batch_id = created["batch_id"]
    note(f"batch {batch_id} created for {args.sku}")
    upload_file(created["upload_url"], path)
    if args.no_wait:
        print(batch_id)
        return EXIT_OK
    try:
        batch = wait_for_batch(client, batch_id, args.timeout)
    except WaitTimeout as exc:
        note(f"kayisu: {exc}; it goes on on the server: check it with `kayisu batch status {batch_id}`")
        return EXIT_API
    except KeyboardInterrupt:
        note(f"\nstopped waiting; batch {batch_id} goes on on the server: `kayisu batch status {batch_id}`")
        return EXIT_INTERRUPTED
    print(render_batch(batch))
    return batch_exit(batch)


def cmd_batch_status(args: argparse.Namespace, ctx: Context) -> int:
    batch = ctx.client().get_batch(args.batch_id)
    if args.json:
        print_json(batch)
    else:
        print(render_batch(batch))
    return batch_exit(batch)


def cmd_stock(args: argparse.Namespace, ctx: Context) -> int:
    stock = ctx.client().stock()
    if args.json:
        print_json(stock)
    else:
        print(render_stock(stock.get("items", [])))
    return EXIT_OK


def cmd_report_download(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    found = client.find_report(args.kind, args.period)
    if found is None:
        raise ApiError(404, "REPORT_NOT_FOUND", f"no {args.kind} report for period {args.period}")
    report = client.get_report(found["report_id"])
    dest: Path = args.output or Path(f"{args.kind}-{args.period}.csv")
    size = download(report["download_url"], dest)
    note(f"saved {report.get('kind', args.kind)} report {report.get('period', args.period)}: {size:,} bytes")
    print(dest)
    return EXIT_OK


def cmd_order_check_payment(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.client().check_payment(args.order_id)
    if args.json:
        print_json(answer)
        return EXIT_OK
    order = answer.get("order", {})
    said = f"{answer.get('provider')}: {answer.get('provider_status')} ({answer.get('provider_detail')})"
    print(
        format_pairs(
            [
                ("order", str(order.get("order_id", args.order_id))),
                ("provider", said),
                ("applied", str(answer.get("applied") or "nothing (no payment found)")),
                ("status", str(order.get("status", ""))),
            ]
        )
    )
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kayisu",
        description="Operate a Kayisu shop: card batches, stock, orders, reports.",
        epilog=(
            "Without --api the local stack is used (.kayisu/local.json in this directory or a parent, "
            "or $KAYISU_STATE_DIR). Exit codes: 1 API error, 2 usage/config/not logged in, 3 batch failed."
        ),
    )
    parser.add_argument("--api", metavar="URL", help="API URL of a deployed stack (default: the local stack)")
    parser.add_argument("--version", action="version", version=f"kayisu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", help="log in with Cognito and store the session")
    login.add_argument("--username", help="Cognito user (default on the local stack: its demo operator)")
    login.add_argument("--region", help="Cognito region of a deployed stack (or $KAYISU_REGION)")
    login.add_argument("--client-id", help="Cognito app client id of a deployed stack (or $KAYISU_CLIENT_ID)")
    login.set_defaults(run=cmd_login)

    batch = commands.add_parser("batch", help="card batches")
    batch_commands = batch.add_subparsers(dest="batch_command", required=True, metavar="COMMAND")
    upload = batch_commands.add_parser("upload", help="upload a card file and wait for its import report")
    upload.add_argument("file", type=Path, metavar="FILE", help="the card file to import")
    upload.add_argument("--sku", required=True, help="the product the cards belong to")
    upload.add_argument("--no-wait", action="store_true", help="print the batch id right after the upload")
    upload.add_argument(
        "--timeout", type=_positive_seconds, default=900.0, metavar="SECONDS", help="how long to wait (default 900)"
    )
    upload.set_defaults(run=cmd_batch_upload)
    status = batch_commands.add_parser("status", help="show a batch (exit 3 if it failed)")
    status.add_argument("batch_id", metavar="BATCH_ID")
    status.add_argument("--json", action="store_true", help="print the API's JSON")
    status.set_defaults(run=cmd_batch_status)

    stock = commands.add_parser("stock", help="cards per product and state")
    stock.add_argument("--json", action="store_true", help="print the API's JSON")
    stock.set_defaults(run=cmd_stock)

    order = commands.add_parser("order", help="orders")
    order_commands = order.add_subparsers(dest="order_command", required=True, metavar="COMMAND")
    check = order_commands.add_parser(
        "check-payment", help="ask the payment provider whether an order was paid (a missed callback) and apply it"
    )
    check.add_argument("order_id", metavar="ORDER_ID")
    check.add_argument("--json", action="store_true", help="print the API's JSON")
    check.set_defaults(run=cmd_order_check_payment)

    report = commands.add_parser("report", help="reconciliation reports")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    fetch = report_commands.add_parser("download", help="download one report as CSV")
    fetch.add_argument("--kind", default="daily", help="report kind (default daily)")
    fetch.add_argument("--period", required=True, help="the report's period, e.g. 2026-11-24")
    fetch.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to save (default ./KIND-PERIOD.csv)")
    fetch.set_defaults(run=cmd_report_download)
    return parser


def report_api_error(exc: ApiError, ctx: Context) -> None:
    note(f"kayisu: {exc.code}: {exc.detail}" + (f" (HTTP {exc.status})" if exc.status else ""))
    for error in exc.errors:
        note(f"  {error['field']}: {error['message']}")
    target = ctx.resolved
    if exc.status == 401 and target is not None:
        note(f"hint: the session was refused; run `{target.login_hint()}`")
    elif exc.status == 403:
        note("hint: admin routes need a user in the `operators` or `finance` group")
    elif exc.code == "UNREACHABLE" and target is not None and target.local is not None:
        note("hint: is the local stack running? (`make run`)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE if exc.code else EXIT_OK
    ctx = Context(args.api)
    run: Callable[[argparse.Namespace, Context], int] = args.run
    try:
        return run(args, ctx)
    except ConfigError as exc:
        note(f"kayisu: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        report_api_error(exc, ctx)
        return EXIT_API
    except FileChanged as exc:
        note(f"kayisu: upload stopped: {exc}")
        return EXIT_API
    except KeyboardInterrupt:
        note("\nkayisu: interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
