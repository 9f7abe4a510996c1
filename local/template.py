"""Reads template.yaml (the single source of truth) for the local stack and tests: routes, the table and its
stream, and the change path's event source mappings, queues and bus rules.

Parsed with cfn-lint's CloudFormation-aware YAML loader, so intrinsic tags (!Ref, !GetAtt, !If...) are understood.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
TABLE_RESOURCE = "CreditsTable"


@lru_cache(maxsize=1)
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from cfnlint.decode.cfn_yaml import load

    return dict(load(str(path)))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form: /credits/holds/{hold_id}
    function: str  # logical id
    code_dir: Path
    handler: str  # module.function
    auth: str  # "jwt", "none" or "iam"
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        m = self.pattern.fullmatch(path)
        return m.groupdict() if m else None


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(regex)


def http_routes(template: dict[str, Any] | None = None) -> list[Route]:
    """Every HttpApi event of every function, in template order."""
    template = template or load_template()
    routes: list[Route] = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            ev = event["Properties"]
            authorizer = ((ev.get("Auth") or {}).get("Authorizer")) or "JwtAuthorizer"
            auth = {"NONE": "none", "AWS_IAM": "iam"}.get(authorizer, "jwt")
            routes.append(
                Route(
                    method=ev["Method"].upper(),
                    path=ev["Path"],
                    function=logical_id,
                    code_dir=ROOT / props["CodeUri"],
                    handler=props["Handler"],
                    auth=auth,
                    pattern=_pattern(ev["Path"]),
                )
            )
    return routes


def scheduled_functions(template: dict[str, Any] | None = None) -> dict[str, Path]:
    template = template or load_template()
    out = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = resource["Properties"].get("Events") or {}
        if any(e.get("Type") in ("Schedule", "ScheduleV2") for e in events.values()):
            out[logical_id] = ROOT / resource["Properties"]["CodeUri"]
    return out


LAMBDA_DEFAULT_TIMEOUT = 3.0  # seconds, when neither the function nor Globals sets Timeout (Lambda's default)


def function_timeout(logical_id: str, template: dict[str, Any] | None = None) -> float:
    """The function's ``Timeout`` (seconds) as Lambda would apply it: its own, else Globals, else Lambda's default."""
    template = template or load_template()
    props = template["Resources"][logical_id].get("Properties") or {}
    globals_ = ((template.get("Globals") or {}).get("Function")) or {}
    return float(props.get("Timeout", globals_.get("Timeout", LAMBDA_DEFAULT_TIMEOUT)))


def dashboard_security_headers(
    template: dict[str, Any] | None = None, *, auth_origin: str | None = None
) -> dict[str, str]:
    """The dashboard's CloudFront response headers, as the local stack serves them (same origin, plain HTTP).

    The CSP is the template's, minus the sources that name deployed endpoints (``${...}`` substitutions: the
    region's API endpoints, the Cognito domain); locally the API is the page's own origin. ``auth_origin`` puts a
    sign-in origin back where the deployed policy has ``${AuthOrigin}`` (a test of the Hosted UI flow). HSTS is left
    out: it means nothing over http://127.0.0.1.
    """
    template = template or load_template()
    policy = template["Resources"]["DashboardSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = policy["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    text = csp["Fn::Sub"][0] if isinstance(csp, dict) else csp  # !Sub [string, vars] or a plain string
    directives = []
    for directive in text.split(";"):
        words = [auth_origin if w == "${AuthOrigin}" and auth_origin else w for w in directive.split()]
        words = [w for w in words if "${" not in w]
        if words:
            directives.append(" ".join(words))
    headers = {"content-security-policy": "; ".join(directives)}
    if "FrameOptions" in security:
        headers["x-frame-options"] = security["FrameOptions"]["FrameOption"]
    if "ContentTypeOptions" in security:
        headers["x-content-type-options"] = "nosniff"
    if "ReferrerPolicy" in security:
        headers["referrer-policy"] = security["ReferrerPolicy"]["ReferrerPolicy"]
    return headers


def table_definition(table_name: str, template: dict[str, Any] | None = None) -> tuple[dict[str, Any], str | None]:
    """CreateTable kwargs for the table resource, and its TTL attribute name."""
    template = template or load_template()
    props = template["Resources"][TABLE_RESOURCE]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [dict(a) for a in props["AttributeDefinitions"]],
        "KeySchema": [dict(k) for k in props["KeySchema"]],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    gsis = props.get("GlobalSecondaryIndexes") or []
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": g["IndexName"],
                "KeySchema": [dict(k) for k in g["KeySchema"]],
                "Projection": dict(g["Projection"]),
            }
            for g in gsis
        ]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = props.get("TimeToLiveSpecification") or {}
    return kwargs, (ttl.get("AttributeName") if ttl.get("Enabled") else None)


def ensure_stream(client: Any, table_name: str) -> str | None:
    """The table's stream ARN; a table found without the template's stream (an older DATA_DIR) gets one."""
    kwargs, _ = table_definition(table_name)
    wanted = kwargs.get("StreamSpecification")
    table = client.describe_table(TableName=table_name)["Table"]
    current = table.get("StreamSpecification") or {}
    if wanted and (not current.get("StreamEnabled") or current.get("StreamViewType") != wanted["StreamViewType"]):
        if current.get("StreamEnabled"):  # another view type: a stream's view cannot change in place
            client.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": False})
        client.update_table(TableName=table_name, StreamSpecification=wanted)
        table = client.describe_table(TableName=table_name)["Table"]
    arn = table.get("LatestStreamArn")
    return str(arn) if arn else None


def create_table(client: Any, table_name: str) -> bool:
    """Create the table (TTL, stream) if missing. Returns True when it was created."""
    kwargs, ttl_attr = table_definition(table_name)
    existing = client.list_tables().get("TableNames", [])
    if table_name in existing:
        ensure_stream(client, table_name)
        return False
    client.create_table(**kwargs)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    if ttl_attr:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"AttributeName": ttl_attr, "Enabled": True}
        )
    return True


# --- the change path: event source mappings, queues, bus rules ----------------------------------------------------
def _logical_id(ref: Any) -> str:
    """``!Ref X`` / ``!GetAtt X.Arn`` -> X."""
    if isinstance(ref, dict) and "Ref" in ref:
        return str(ref["Ref"])
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        target = ref["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    raise ValueError(f"not a reference: {ref!r}")


@dataclass(frozen=True)
class Mapping:
    """An ``AWS::Lambda::EventSourceMapping`` of the template, with its function's code."""

    name: str
    function: str
    code_dir: Path
    handler: str
    source: str  # logical id of the table (stream) or queue
    kind: str  # "stream" or "queue"
    batch_size: int
    batching_window: float
    max_retries: int | None
    bisect: bool
    report_item_failures: bool
    filters: tuple[dict[str, Any], ...]
    on_failure: str | None  # logical id of the on-failure destination


def event_source_mappings(template: dict[str, Any] | None = None) -> list[Mapping]:
    template = template or load_template()
    resources = template["Resources"]
    out = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        p = resource["Properties"]
        function = _logical_id(p["FunctionName"])
        fn = resources[function]["Properties"]
        source = p["EventSourceArn"]
        kind = "stream" if "StreamArn" in json.dumps(source) else "queue"
        on_failure = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        out.append(Mapping(
            name=name,
            function=function,
            code_dir=ROOT / fn["CodeUri"],
            handler=fn["Handler"],
            source=_logical_id(source),
            kind=kind,
            batch_size=int(p.get("BatchSize", 100 if kind == "stream" else 10)),
            batching_window=float(p.get("MaximumBatchingWindowInSeconds", 0)),
            max_retries=int(p["MaximumRetryAttempts"]) if "MaximumRetryAttempts" in p else None,
            bisect=bool(p.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
            filters=tuple(json.loads(f["Pattern"]) for f in (p.get("FilterCriteria") or {}).get("Filters", [])),
            on_failure=_logical_id(on_failure) if on_failure else None,
        ))
    return out


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout: int
    max_receive_count: int | None
    dead_letter: str | None


def queues(template: dict[str, Any] | None = None) -> dict[str, QueueSpec]:
    template = template or load_template()
    out = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        p = resource.get("Properties") or {}
        redrive = p.get("RedrivePolicy") or {}
        out[name] = QueueSpec(
            name=name,
            visibility_timeout=int(p.get("VisibilityTimeout", 30)),
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
            dead_letter=_logical_id(redrive["deadLetterTargetArn"]) if redrive else None,
        )
    return out


@dataclass(frozen=True)
class BusRule:
    name: str
    condition: str | None
    pattern: dict[str, Any]
    target_queues: tuple[str, ...]


def bus_rules(template: dict[str, Any] | None = None) -> list[BusRule]:
    template = template or load_template()
    resources = template["Resources"]
    out = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        p = resource["Properties"]
        targets = tuple(_logical_id(t["Arn"]) for t in p.get("Targets", [])
                        if resources.get(_logical_id(t["Arn"]), {}).get("Type") == "AWS::SQS::Queue")
        out.append(BusRule(name, resource.get("Condition"), dict(p["EventPattern"]), targets))
    return out


def function_environment(function: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    """The literal (string) environment variables a function declares; intrinsics (!Ref...) are left out."""
    template = template or load_template()
    props = template["Resources"][function]["Properties"]
    variables = ((props.get("Environment") or {}).get("Variables")) or {}
    return {k: v for k, v in variables.items() if isinstance(v, str)}
