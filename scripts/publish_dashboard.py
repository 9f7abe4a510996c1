"""Publish the static dashboard to the stack's bucket with a generated config.json (API URL and Cognito settings).

Usage: python scripts/publish_dashboard.py --stack credits-dev [--region us-east-1]
Reads the stack's outputs, uploads dashboard/ with correct content types, and invalidates CloudFront.
index.html gets a <meta> Content-Security-Policy naming exactly this stack's API and sign-in origins: CloudFront's
header policy (template.yaml) can only allow the region's execute-api endpoints, since naming the API there would be
a dependency cycle; browsers apply both policies, so the exact one is what holds.
"""

from __future__ import annotations

import argparse
import html
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboard"


def build_config(outputs: dict[str, str]) -> dict[str, Any]:
    """config.json the dashboard reads at start; Cognito Hosted UI with PKCE when the stack created a pool."""
    config: dict[str, Any] = {"apiBase": outputs["ApiUrl"].rstrip("/")}
    if outputs.get("UserPoolClientId") and outputs.get("CognitoDomain"):
        config["auth"] = {
            "mode": "cognito",
            "domain": outputs["CognitoDomain"].rstrip("/"),
            "clientId": outputs["UserPoolClientId"],
            "redirectUri": outputs["DashboardUrl"].rstrip("/") + "/",
            "scopes": ["openid", "email"],
            "tokenType": "id",
        }
    else:
        raise SystemExit("The stack has no Cognito outputs: write dashboard config.json for your identity provider.")
    return config


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise SystemExit(f"expected an https URL in the stack outputs, got {url!r}")
    return f"https://{parts.netloc}"


def pinned_csp(config: dict[str, Any]) -> str:
    """connect-src for exactly this deployment: the page itself, its API and (Cognito) its token endpoint."""
    sources = ["'self'", _origin(config["apiBase"])]
    auth = config.get("auth") or {}
    if auth.get("mode") == "cognito":
        sources.append(_origin(auth["domain"]))
    return "connect-src " + " ".join(dict.fromkeys(sources))


def with_pinned_csp(page: str, config: dict[str, Any]) -> str:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(pinned_csp(config))}">'
    marker = '<meta charset="utf-8">'
    if marker not in page:
        raise SystemExit("dashboard/index.html lost its <meta charset>: cannot place the CSP right after it")
    return page.replace(marker, f"{marker}\n    {meta}", 1)


def files_to_upload(root: Path = DASHBOARD) -> list[tuple[Path, str]]:
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in ("README.md", "config.json") or path.name.startswith("."):
            continue
        if path.relative_to(root).parts[0] == "test":  # the dashboard's unit tests are not the dashboard
            continue
        guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        ctype = "text/javascript" if path.suffix == ".js" else guessed
        out.append((path, ctype))
    return out


def publish(s3: Any, bucket: str, config: dict[str, Any], root: Path = DASHBOARD) -> list[str]:
    keys = []
    for path, ctype in files_to_upload(root):
        key = path.relative_to(root).as_posix()
        body = path.read_bytes()
        if key == "index.html":
            body = with_pinned_csp(body.decode("utf-8"), config).encode("utf-8")
        # index.html and config.json must never be cached stale; hashed assets could be, these are not hashed.
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=ctype, CacheControl="no-cache")
        keys.append(key)
    s3.put_object(Bucket=bucket, Key="config.json", Body=json.dumps(config, indent=2).encode(),
                  ContentType="application/json", CacheControl="no-store")
    keys.append("config.json")
    return keys


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=args.region)
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    keys = publish(session.client("s3"), outputs["DashboardBucketName"], build_config(outputs))
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["DashboardDistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time())},
    )
    print(f"published {len(keys)} files; dashboard: {outputs['DashboardUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
