"""`make deploy-storefront`: publish storefront/ to a deployed stack (docs/storefront.md).

1. Reads the stack's outputs `ApiUrl`, `StorefrontBucketName` and `StorefrontDistributionId`
   (the stack name and region come from samconfig.toml's `--config-env`, or the flags).
2. Builds what to upload: `config.json` written as `{"api_url": ApiUrl}`; `index.html` with its
   Content-Security-Policy narrowed from `connect-src 'self' https:;` to the API's origin; every
   other file as it is, each with its content type and cache headers (`no-cache` for the shop's
   own files, which keep their names between releases; a year, immutable, for `vendor/`, whose
   names carry their version).
3. Uploads the assets first and `index.html` and `config.json` last (a page never refers to a
   file that is not there yet), deletes objects the release no longer has, and invalidates
   the CloudFront distribution (`/*`).

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
LAST = ("config.json", "index.html")  # uploaded after everything they refer to
OUTPUTS = ("ApiUrl", "StorefrontBucketName", "StorefrontDistributionId")


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


def plan(root: Path, api_url: str) -> list[Upload]:
    uploads: list[Upload] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        key = rel.as_posix()
        body = path.read_bytes()
        if key == "config.json":
            body = config_json(api_url)
        elif key == "index.html":
            body = narrow_csp(body.decode("utf-8"), api_url).encode()
        cache = IMMUTABLE if rel.parts[0] == "vendor" else NO_CACHE
        uploads.append(Upload(key, body, content_type(path), cache))
    if "config.json" not in {u.key for u in uploads}:
        uploads.append(Upload("config.json", config_json(api_url), CONTENT_TYPES[".json"], NO_CACHE))
    if "index.html" not in {u.key for u in uploads}:
        raise DeployError(f"{root} has no index.html")
    return sorted(uploads, key=lambda u: (u.key in LAST, LAST.index(u.key) if u.key in LAST else 0, u.key))


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
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    try:
        stack_name, region = stack_settings(ROOT / "samconfig.toml", args.config_env)
        stack_name, region = args.stack_name or stack_name, args.region or region
        import boto3

        session = boto3.Session(region_name=region)
        outputs = stack_outputs(session.client("cloudformation"), stack_name)
        uploads = plan(args.root, outputs["ApiUrl"])
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
