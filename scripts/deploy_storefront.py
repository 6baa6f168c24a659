"""`make deploy-storefront`: publish storefront/ and the console (console/, under `console/`)
to a deployed stack (docs/storefront.md, docs/console.md).

1. Reads the stack's outputs `ApiUrl`, `StorefrontBucketName` and `StorefrontDistributionId`
   (the stack name and region come from samconfig.toml's `--config-env`, or the flags).
2. Builds what to upload: `config.json` written as `{"api_url": ApiUrl}`; `index.html` with its
   Content-Security-Policy narrowed from `connect-src 'self' https:;` to the API's origin; every
   other file as it is, each with its content type and cache headers (`no-cache` for the shop's
   own files, which keep their names between releases; a year, immutable, for `vendor/`, whose
   names carry their version).
3. Uploads the assets first and `index.html` and `config.json` last (a page never refers to a
   file that is not there yet), deletes objects the release no longer has, and invalidates
   the CloudFront distribution (`/*`). Shop and console are one release in one bucket: deleting
   what a release no longer has must see both.
4. The console's `config.json` is `{"api_url", "region", "user_pool_client_id",
   "cognito_endpoint"}` from the outputs `UserPoolId` and `UserPoolClientId`; its `index.html`
   may connect to the API, the region's Cognito endpoint and the cards bucket (batch uploads).

`--dry-run` prints the plan and changes nothing. Credentials come from the usual AWS chain
(`AWS_PROFILE`, environment, SSO). Python and boto3 only: no AWS CLI needed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CSP_CONNECT = "connect-src 'self' https:;"
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}
# Uploaded after everything they refer to, the console's before the shop's.
LAST = ("console/config.json", "console/index.html", "config.json", "index.html")
OUTPUTS = (
    "ApiUrl",
    "StorefrontBucketName",
    "StorefrontDistributionId",
    "UserPoolId",
    "UserPoolClientId",
    "CardsBucketName",
)
CONSOLE = "console/"


class DeployError(Exception):
    pass


@dataclass(frozen=True)
class Upload:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def stack_settings(samconfig: Path, config_env: str) -> tuple[str, str | None]:
    """The stack name and region `sam deploy --config-env` uses."""
    data = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    env = data.get(config_env)
    if not isinstance(env, dict):
        raise DeployError(f"no [{config_env}] in {samconfig}")
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):
        merged.update(env.get(command, {}).get("parameters", {}))
    if "stack_name" not in merged:
        raise DeployError(f"no stack_name for [{config_env}] in {samconfig}")
    region = merged.get("region")
    return str(merged["stack_name"]), str(region) if region else None


def api_origin(api_url: str) -> str:
    parts = urlsplit(api_url)
    if parts.scheme != "https" or not parts.netloc:
        raise DeployError(f"ApiUrl must be an https URL, not {api_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def config_json(api_url: str) -> bytes:
    api_origin(api_url)
    return (json.dumps({"api_url": api_url.rstrip("/")}, indent=2) + "\n").encode()


def narrow_csp(index_html: str, api_url: str) -> str:
    """The page may call only its own origin and the API (locally they are one origin)."""
    if index_html.count(CSP_CONNECT) != 1:
        raise DeployError(f"index.html must contain {CSP_CONNECT!r} exactly once")
    return index_html.replace(CSP_CONNECT, f"connect-src 'self' {api_origin(api_url)};")


def content_type(path: Path) -> str:
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        raise DeployError(f"unknown file type, add it to CONTENT_TYPES: {path}") from None


def _files(root: Path, prefix: str, bodies: dict[str, bytes]) -> list[Upload]:
    """Every file under `root` as `prefix + its path`, `bodies` replacing some by name."""
    uploads: list[Upload] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        key = rel.as_posix()
        body = bodies[key] if key in bodies else path.read_bytes()
        cache = IMMUTABLE if rel.parts[0] == "vendor" else NO_CACHE
        uploads.append(Upload(prefix + key, body, content_type(path), cache))
    if "config.json" in bodies and prefix + "config.json" not in {u.key for u in uploads}:
        uploads.append(Upload(prefix + "config.json", bodies["config.json"], CONTENT_TYPES[".json"], NO_CACHE))
    if prefix + "index.html" not in {u.key for u in uploads}:
        raise DeployError(f"{root} has no index.html")
    return uploads


def ordered(uploads: Sequence[Upload]) -> list[Upload]:
    return sorted(uploads, key=lambda u: (u.key in LAST, LAST.index(u.key) if u.key in LAST else 0, u.key))


def plan(root: Path, api_url: str) -> list[Upload]:
    index = root / "index.html"
    bodies = {"config.json": config_json(api_url)}
    if index.is_file():
        bodies["index.html"] = narrow_csp(index.read_text(encoding="utf-8"), api_url).encode()
    return ordered(_files(root, "", bodies))


@dataclass(frozen=True)
class ConsoleSettings:
    api_url: str
    user_pool_id: str
    client_id: str
    cards_bucket: str

    @property
    def region(self) -> str:
        region = self.user_pool_id.split("_", 1)[0]  # a pool id is "<region>_<id>"
        if not region or "_" not in self.user_pool_id:
            raise DeployError(f"UserPoolId {self.user_pool_id!r} is not <region>_<id>")
        return region

    @property
    def cognito_endpoint(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com"


def console_config_json(settings: ConsoleSettings) -> bytes:
    api_origin(settings.api_url)
    config = {
        "api_url": settings.api_url.rstrip("/"),
        "region": settings.region,
        "user_pool_client_id": settings.client_id,
        "cognito_endpoint": settings.cognito_endpoint,
    }
    return (json.dumps(config, indent=2) + "\n").encode()


def narrow_console_csp(index_html: str, settings: ConsoleSettings) -> str:
    """The console may call its origin, the API, Cognito and the cards bucket (presigned PUTs,
    addressed either way S3 signs them); nothing else."""
    if index_html.count(CSP_CONNECT) != 1:
        raise DeployError(f"console/index.html must contain {CSP_CONNECT!r} exactly once")
    bucket, region = settings.cards_bucket, settings.region
    allowed = [
        api_origin(settings.api_url),
        settings.cognito_endpoint,
        f"https://{bucket}.s3.{region}.amazonaws.com",
        f"https://{bucket}.s3.amazonaws.com",
    ]
    return index_html.replace(CSP_CONNECT, f"connect-src 'self' {' '.join(allowed)};")


def console_plan(root: Path, settings: ConsoleSettings) -> list[Upload]:
    index = root / "index.html"
    bodies = {"config.json": console_config_json(settings)}
    if index.is_file():
        bodies["index.html"] = narrow_console_csp(index.read_text(encoding="utf-8"), settings).encode()
    return _files(root, CONSOLE, bodies)


def stale_keys(existing: Sequence[str], uploads: Sequence[Upload]) -> list[str]:
    keep = {u.key for u in uploads}
    return sorted(k for k in existing if k not in keep)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise DeployError(f"stack {stack_name} has no output {', '.join(missing)}: deploy template.yaml first")
    return outputs


def publish(s3: Any, cloudfront: Any, bucket: str, distribution_id: str, uploads: Sequence[Upload]) -> str:
    for upload in uploads:
        s3.put_object(
            Bucket=bucket,
            Key=upload.key,
            Body=upload.body,
            ContentType=upload.content_type,
            CacheControl=upload.cache_control,
        )
        print(f"  put {upload.key} ({len(upload.body)} B, {upload.cache_control})")
    existing = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    ]
    for key in stale_keys(existing, uploads):
        s3.delete_object(Bucket=bucket, Key=key)
        print(f"  deleted {key}")
    answer = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"kayisu-{time.time_ns()}"},
    )
    return str(answer["Invalidation"]["Id"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy-storefront", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (default, prod)")
    parser.add_argument("--stack-name", help="overrides samconfig.toml's stack_name")
    parser.add_argument("--region", help="overrides samconfig.toml's region")
    parser.add_argument("--root", type=Path, default=ROOT / "storefront", help="the storefront folder")
    parser.add_argument("--console-root", type=Path, default=ROOT / "console", help="the console folder")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    try:
        stack_name, region = stack_settings(ROOT / "samconfig.toml", args.config_env)
        stack_name, region = args.stack_name or stack_name, args.region or region
        import boto3

        session = boto3.Session(region_name=region)
        outputs = stack_outputs(session.client("cloudformation"), stack_name)
        console = ConsoleSettings(
            outputs["ApiUrl"], outputs["UserPoolId"], outputs["UserPoolClientId"], outputs["CardsBucketName"]
        )
        uploads = ordered(plan(args.root, outputs["ApiUrl"]) + console_plan(args.console_root, console))
        bucket, distribution = outputs["StorefrontBucketName"], outputs["StorefrontDistributionId"]
        print(f"Storefront for {stack_name}: s3://{bucket} via CloudFront {distribution}, API {outputs['ApiUrl']}")
        if args.dry_run:
            for upload in uploads:
                print(f"  would put {upload.key} ({upload.content_type}; {upload.cache_control})")
            return 0
        invalidation = publish(session.client("s3"), session.client("cloudfront"), bucket, distribution, uploads)
        print(f"Done; CloudFront invalidation {invalidation} is on its way (usually under a minute).")
    except DeployError as error:
        print(f"deploy-storefront: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
