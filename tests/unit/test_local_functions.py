"""Functions as the local stack runs them: one event at a time per container, so concurrent
events never share a handler's per-request state (Powertools keeps it on module objects)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local.functions import Function, load_functions
from local.template import Template

HANDLER = """
import time
from kayisu.web import create_app, lambda_handler

app = create_app()

@app.get("/echo/<word>")
def echo(word: str) -> dict:
    time.sleep(0.05)  # long enough for other events to arrive meanwhile
    return {"word": word, "path": app.current_event.path, "query": app.current_event.query_string_parameters}

handler = lambda_handler(app)
"""


def event(word: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /echo/{word}",
        "rawPath": f"/echo/{word}",
        "rawQueryString": f"w={word}",
        "headers": {},
        "queryStringParameters": {"w": word},
        "pathParameters": {"word": word},
        "requestContext": {
            "http": {"method": "GET", "path": f"/echo/{word}", "sourceIp": "127.0.0.1"},
            "requestId": word,
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def test_concurrent_events_each_see_only_their_own_request(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HANDLER)
    load_functions(Template({"Resources": {}}, {}), tmp_path)  # installs the per-container resolver state
    fn = Function("Echo", tmp_path, "app.handler", {}, 128, 10)
    words = [f"w{i}" for i in range(16)]

    def call(word: str) -> dict[str, Any]:
        answer: dict[str, Any] = fn.invoke(event(word))
        return answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, words))
    for word, answer in zip(words, answers, strict=True):
        assert answer["statusCode"] == 200, answer
        assert f'"word":"{word}"' in answer["body"].replace(" ", ""), answer["body"]
        assert f"/echo/{word}" in answer["body"]
    assert 2 <= fn.containers <= 8  # concurrency made containers; sequential reuse keeps them few
