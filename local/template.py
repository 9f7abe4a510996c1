"""Reads template.yaml (the single source of truth) for the local stack and tests: routes and the table.

Parsed with cfn-lint's CloudFormation-aware YAML loader, so intrinsic tags (!Ref, !GetAtt, !If...) are understood.
"""

from __future__ import annotations

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
    ttl = props.get("TimeToLiveSpecification") or {}
    return kwargs, (ttl.get("AttributeName") if ttl.get("Enabled") else None)


def create_table(client: Any, table_name: str) -> bool:
    """Create the table (and TTL) if missing. Returns True when it was created."""
    kwargs, ttl_attr = table_definition(table_name)
    existing = client.list_tables().get("TableNames", [])
    if table_name in existing:
        return False
    client.create_table(**kwargs)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    if ttl_attr:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"AttributeName": ttl_attr, "Enabled": True}
        )
    return True
