"""`kayisu-partner`: verify and redeem codes from a shell or a till script.

    KAYISU_API_URL=https://api.example.com KAYISU_PARTNER_ID=ptn_... KAYISU_PARTNER_SECRET=... \\
        kayisu-partner redeem CODE --reference SALE-1042

The secret comes from `KAYISU_PARTNER_SECRET` or `--secret-file PATH`, never from a flag value
(it would land in shell history and `ps`). Results go to stdout as JSON (or one line with
`--text`); errors go to stderr as `CODE: detail`, without the secret or the card code.
Exit codes: 0 ok, 1 the API said no or could not be reached, 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .client import PartnerClient, new_reference
from .errors import AlreadyRedeemed, KayisuError, TooManyAttempts
from .models import Redemption, Verification, format_time

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STDIN = "-"


class UsageError(Exception):
    pass


class _RefuseSecret(argparse.Action):
    """`--secret VALUE` is refused without echoing VALUE (argparse would print it back)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> NoReturn:
        parser.error("the secret is never a flag value: set KAYISU_PARTNER_SECRET or pass --secret-file PATH")


def _add_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The same options on the main parser and on each command, so they work before or after
    # the command; on commands they default to SUPPRESS so they do not erase earlier ones.
    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument("--api", default=default(None), help="API root, without /v1 (env KAYISU_API_URL)")
    parser.add_argument("--partner-id", default=default(None), help="partner id (env KAYISU_PARTNER_ID)")
    parser.add_argument(
        "--secret-file",
        default=default(None),
        metavar="PATH",
        help="file holding the secret ('-' for stdin); else env KAYISU_PARTNER_SECRET",
    )
    parser.add_argument("--secret", nargs="?", action=_RefuseSecret, help=argparse.SUPPRESS)
    parser.add_argument("--text", action="store_true", default=default(False), help="one human line, not JSON")
    parser.add_argument("--timeout", type=float, default=default(10.0), help="seconds per attempt (default 10)")
    parser.add_argument("--retries", type=int, default=default(3), help="retries of transient failures (default 3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kayisu-partner",
        description="Verify and redeem (核销) Kayisu card codes through the signed Partner API.",
        epilog="CODE may be '-' to read it from stdin (keeps it out of shell history).",
        allow_abbrev=False,  # `--secret x` must never be taken for `--secret-file x`
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = commands.add_parser("verify", help="can CODE be redeemed now?", allow_abbrev=False)
    verify.add_argument("code", metavar="CODE")
    redeem = commands.add_parser("redeem", help="redeem CODE once", allow_abbrev=False)
    redeem.add_argument("code", metavar="CODE")
    redeem.add_argument(
        "--reference",
        help="your id for this sale, 1..64 characters; the same one makes a repeat safe (default: a new one)",
    )
    show = commands.add_parser("show", help="one of your redemptions", allow_abbrev=False)
    show.add_argument("redemption_id", metavar="REDEMPTION_ID")
    for sub in (verify, redeem, show):
        _add_options(sub, top=False)
    return parser


def _setting(value: str | None, flag: str, env: str, what: str) -> str:
    value = value or os.environ.get(env, "")
    if not value:
        raise UsageError(f"no {what}: pass {flag} or set {env}")
    return value


def _secret(path: str | None) -> str:
    if path is None:
        secret = os.environ.get("KAYISU_PARTNER_SECRET", "")
        if not secret:
            raise UsageError("no partner secret: set KAYISU_PARTNER_SECRET or pass --secret-file PATH")
        return secret
    try:
        # Trailing newlines from `echo` or an editor are not part of the secret.
        secret = (sys.stdin.readline() if path == STDIN else Path(path).read_text(encoding="utf-8")).strip()
    except OSError as exc:
        raise UsageError(f"cannot read the secret file {path}: {exc.strerror or type(exc).__name__}") from None
    if not secret:
        raise UsageError("the secret file is empty")
    return secret


def _code(value: str) -> str:
    code = sys.stdin.readline().strip() if value == STDIN else value
    if not code:
        raise UsageError("no code given")
    return code


def _as_json(result: Verification | Redemption) -> dict[str, Any]:
    if isinstance(result, Verification):
        at = format_time(result.redeemed_at) if result.redeemed_at else None
        return {"status": result.status, "sku": result.sku, "redeemed_at": at}
    return {
        "redemption_id": result.redemption_id,
        "sku": result.sku,
        "redeemed_at": format_time(result.redeemed_at),
        "reference": result.reference,
        "replayed": result.replayed,
    }


def _as_text(result: Verification | Redemption) -> str:
    if isinstance(result, Verification):
        at = f" at {format_time(result.redeemed_at)}" if result.redeemed_at else ""
        return f"{result.status} {result.sku}{at}"
    repeat = " (a repeat: this is the earlier result)" if result.replayed else ""
    return (
        f"redeemed {result.sku} at {format_time(result.redeemed_at)} as {result.redemption_id}"
        f" (reference {result.reference}){repeat}"
    )


def _describe(error: KayisuError) -> str:
    """`CODE: detail` plus what helps next; the detail never holds a code (CONTRACT §0)."""
    line = f"{error.code}: {error.detail}"
    if isinstance(error, AlreadyRedeemed) and error.redeemed_at:
        line += f" (redeemed at {format_time(error.redeemed_at)})"
    if isinstance(error, TooManyAttempts) and error.retry_after is not None:
        line += f" (retry after {error.retry_after} s)"
    if error.request_id:
        line += f" [request id {error.request_id}]"
    return line


def run(args: argparse.Namespace) -> Verification | Redemption:
    api = _setting(args.api, "--api", "KAYISU_API_URL", "API URL")
    partner_id = _setting(args.partner_id, "--partner-id", "KAYISU_PARTNER_ID", "partner id")
    if STDIN == args.secret_file == getattr(args, "code", None):
        raise UsageError("stdin can hold the secret or the code, not both")
    secret = _secret(args.secret_file)
    try:
        client = PartnerClient(api, partner_id, secret, timeout=args.timeout, retries=args.retries)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with client:
        if args.command == "verify":
            return client.verify(_code(args.code))
        if args.command == "redeem":
            code = _code(args.code)
            reference = args.reference
            if reference is None:
                reference = new_reference()
                # Said before the call: if the answer is lost, repeating with it is safe.
                print(f"reference: {reference}", file=sys.stderr, flush=True)
            try:
                return client.redeem(code, reference)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        return client.get_redemption(args.redemption_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        result = run(args)
    except UsageError as exc:
        print(f"kayisu-partner: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KayisuError as exc:
        print(_describe(exc), file=sys.stderr)
        return EXIT_API
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print(_as_text(result) if args.text else json.dumps(_as_json(result), ensure_ascii=False))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
