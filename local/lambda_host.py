"""Runs the template's Lambda handlers in-process, the way API Gateway HTTP API (payload 2.0) would call them.

Each function gets a pool of "execution environments" (separately imported copies of its module), and one request
uses one environment at a time, as in Lambda. That matters: a Powertools resolver keeps the current event on the
module's ``app``, so two threads must never share a module instance.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, Route

LAYER_DIR = ROOT / "layers" / "credits"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def ensure_layer_on_path() -> None:
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default_factory=lambda: time.monotonic() + 30)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionPool:
    """Imports a function's ``app.py`` once per concurrent invocation slot, reusing idle copies (warm starts)."""

    _counter = itertools.count()

    def __init__(self, name: str, code_dir: Path, handler: str) -> None:
        self.name = name
        self.path = code_dir / f"{handler.split('.')[0]}.py"
        self.function = handler.split(".")[1]
        self.idle: queue.SimpleQueue[ModuleType] = queue.SimpleQueue()
        self.lock = threading.Lock()

    def _load(self) -> ModuleType:
        ensure_layer_on_path()
        mod_name = f"_fn_{self.name}_{next(self._counter)}"
        spec = importlib.util.spec_from_file_location(mod_name, self.path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        with self.lock:  # module-level init (config, clients) runs once at a time, like a cold start
            spec.loader.exec_module(module)
        return module

    def warm(self) -> None:
        self.idle.put(self._load())

    def invoke(self, event: dict[str, Any]) -> Any:
        try:
            module = self.idle.get_nowait()
        except queue.Empty:
            module = self._load()
        try:
            return getattr(module, self.function)(event, LambdaContext(self.name))
        finally:
            self.idle.put(module)


def _stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    # HTTP API hands JWT claims to Lambda as strings ("exp": "1700000000", lists as "[a b]").
    out = {}
    for k, v in claims.items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, list):
            out[k] = "[" + " ".join(str(x) for x in v) + "]"
        else:
            out[k] = json.dumps(v)
    return out


def http_event(
    route: Route,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
    path_params: dict[str, str],
    claims: dict[str, Any] | None,
    iam_caller: str | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    content_type = headers.get("content-type", "")
    is_text = not body or any(t in content_type for t in TEXT_TYPES)
    if is_text:
        try:
            body_field: str | None = body.decode("utf-8")
            is_b64 = False
        except UnicodeDecodeError:
            body_field, is_b64 = base64.b64encode(body).decode(), True
    else:
        body_field, is_b64 = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if body:
        event["body"] = body_field
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if path_params:
        event["pathParameters"] = path_params
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": _stringify_claims(claims), "scopes": None}}
    if iam_caller is not None:
        event["requestContext"]["authorizer"] = {
            "iam": {"accountId": "123456789012", "userArn": iam_caller, "userId": "LOCAL", "callerId": "LOCAL"}
        }
    return event


def decode_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Interpret a handler's return value as API Gateway would (payload 2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return 200, {"content-type": "application/json"}, body
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ",".join(map(str, values))
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return int(result["statusCode"]), headers, body
