"""Runs the template's Lambda handlers in-process, the way API Gateway HTTP API (payload 2.0) would call them.

Each function gets a pool of "execution environments" (separately imported copies of its module), and one request
uses one environment at a time, as in Lambda. That matters: a Powertools resolver keeps the current event on the
module's ``app``, so two threads must never share a module instance. Powertools also stores the event it resolves on
the ``BaseRouter`` *class*, which every resolver of a process shares (harmless in Lambda: one event per process at a
time); ``isolate_resolver_state`` keeps it on each resolver instead, or two concurrent local requests could swap
headers, bodies and even users (tests/fault/test_local_stack_isolation.py).

Timeouts: with a ``timeout`` (the template's ``Timeout``), a handler runs in its own thread and the caller stops
waiting at the deadline, as Lambda stops an invocation. Python cannot kill a thread, so unlike AWS (which freezes
and then resets the environment) the handler runs on in the background; its environment is thrown away, never
reused, and the next request gets a fresh import (a cold start, as after a timeout in AWS).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, Route

LAYER_DIR = ROOT / "layers" / "credits"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


class FunctionTimeout(Exception):
    """The handler did not return within the wait (the function's Timeout, or the caller's own shorter limit)."""

    def __init__(self, function: str, waited: float, *, function_timed_out: bool) -> None:
        super().__init__(f"{function}: no answer after {waited:.2f} s")
        self.function = function
        self.waited = waited
        self.function_timed_out = function_timed_out  # False: the caller's limit (API Gateway's 30 s) came first


def ensure_layer_on_path() -> None:
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))
    isolate_resolver_state()


_isolated = threading.Lock()


def isolate_resolver_state() -> None:
    """Give every Powertools resolver its own current event and context (one Lambda environment each, as deployed).

    ``ApiGatewayResolver.resolve`` sets ``BaseRouter.current_event`` on the class; setting the same on the instance
    first shadows it, so the routes of one module copy only ever see their own request. Idempotent.
    """
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    with _isolated:
        if getattr(ApiGatewayResolver.resolve, "_isolated", False):
            return
        shared_resolve = ApiGatewayResolver.resolve

        def resolve(self: Any, event: Any, context: Any) -> Any:
            self.current_event = self._to_proxy_event(event)
            self.lambda_context = context
            return shared_resolve(self, event, context)

        resolve._isolated = True  # type: ignore[attr-defined]
        ApiGatewayResolver.resolve = resolve  # type: ignore[method-assign]


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    timeout: float = 30.0
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionPool:
    """Imports a function's ``app.py`` once per concurrent invocation slot, reusing idle copies (warm starts)."""

    _counter = itertools.count()

    def __init__(self, name: str, code_dir: Path, handler: str, timeout: float | None = None) -> None:
        self.name = name
        self.path = code_dir / f"{handler.split('.')[0]}.py"
        self.function = handler.split(".")[1]
        self.timeout = timeout  # None: run inline, unbounded (tests that call handlers directly)
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

    def invoke(self, event: dict[str, Any], *, max_wait: float | None = None) -> Any:
        """Run the handler once; raise FunctionTimeout past the function's timeout (or ``max_wait``, if shorter)."""
        try:
            module = self.idle.get_nowait()
        except queue.Empty:
            module = self._load()
        handler: Callable[..., Any] = getattr(module, self.function)
        if self.timeout is None:
            try:
                return handler(event, LambdaContext(self.name))
            finally:
                self.idle.put(module)
        return self._invoke_bounded(module, handler, event, self.timeout, max_wait)

    def _invoke_bounded(
        self, module: ModuleType, handler: Callable[..., Any], event: dict[str, Any], timeout: float,
        max_wait: float | None,
    ) -> Any:
        context = LambdaContext(self.name, timeout=timeout)
        outcome: dict[str, Any] = {}
        done = threading.Event()
        started = time.monotonic()

        def run() -> None:
            try:
                outcome["result"] = handler(event, context)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = exc
            finally:
                # Within its own timeout the environment stays usable (API Gateway may have stopped waiting first,
                # and Lambda would keep it); past it, Lambda would have reset it: drop this copy for good.
                if time.monotonic() - started <= timeout:
                    self.idle.put(module)
                done.set()

        thread = threading.Thread(target=run, name=f"lambda-{self.name}", daemon=True)
        thread.start()
        wait = timeout if max_wait is None else min(timeout, max_wait)
        if not done.wait(wait):
            function_timed_out = wait >= timeout
            if function_timed_out:  # Lambda's own log line, so `make dev` shows what AWS would log
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                sys.stderr.write(f"{stamp} {context.aws_request_id} {self.name} Task timed out after "
                                 f"{timeout:.2f} seconds (local: the handler thread runs on; see README)\n")
            raise FunctionTimeout(self.name, wait, function_timed_out=function_timed_out)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


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
