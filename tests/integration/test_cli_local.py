"""The operator CLI against the local stack, as an operator runs it after `make run`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


def kayisu(stack: dict[str, Any], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAYISU_STATE_DIR": stack["state_dir"], "XDG_CONFIG_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "kayisu_cli.main", *args], cwd=home, env=env, capture_output=True, text=True, timeout=120
    )


def test_upload_with_the_cli_then_see_the_stock(
    stack: dict[str, Any], operator: Api, new_sku: str, tmp_path: Path
) -> None:
    assert operator.post("/v1/admin/products", {"sku": new_sku, "name": "cli", "price": 100}).status_code == 201
    cards = tmp_path / "cards.csv"
    cards.write_text("code,serial\n" + "\n".join(f"CLI-{secrets.token_hex(6)},S{i}" for i in range(25)) + "\n,\n")

    upload = kayisu(stack, tmp_path, "batch", "upload", "--sku", new_sku, str(cards))
    assert upload.returncode == 0, upload.stderr
    assert "completed" in upload.stdout
    assert "25" in upload.stdout

    stock = kayisu(stack, tmp_path, "stock", "--json")
    assert stock.returncode == 0, stock.stderr
    assert f'"{new_sku}"' in stock.stdout

    missing = kayisu(stack, tmp_path, "batch", "upload", "--sku", "NO-SUCH-SKU", str(cards))
    assert missing.returncode == 1
    assert "UNKNOWN_SKU" in missing.stderr


def test_download_a_finance_report_with_the_cli(stack: dict[str, Any], tmp_path: Path) -> None:
    ran = Api(stack["api_url"]).post("/_local/schedules/DailyReport", {"time": "2024-02-02T16:10:00Z"})
    assert ran.status_code == 200, ran.text  # 00:10 on 3 February in Shanghai: reports the 2nd
    got = kayisu(stack, tmp_path, "report", "download", "--kind", "daily", "--period", "2024-02-02")
    assert got.returncode == 0, got.stderr
    saved = tmp_path / "daily-2024-02-02.csv"
    assert got.stdout.strip().endswith("daily-2024-02-02.csv")
    assert saved.read_bytes().startswith(b"\xef\xbb\xbfsection,type,time,time_utc,order_id")
    missing = kayisu(stack, tmp_path, "report", "download", "--period", "1999-01-01")
    assert missing.returncode == 1
    assert "REPORT_NOT_FOUND" in missing.stderr
