"""SigV4 signing of the internal routes with botocore's signer, as an ``httpx.Auth``.

botocore is an optional extra (``credits-client[aws]``) and is imported only here, only when an admin client is
built, so ``import credits_client`` stays light for user-route callers. Each attempt is signed afresh (a retry gets
a new ``X-Amz-Date``); refreshable credentials (SSO, assumed roles, instance roles) are frozen per signature.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from credits_client.errors import ConfigurationError

EXTRA = "credits-client[aws]"
SERVICE = "execute-api"
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
# Signed besides host: what API Gateway must see unchanged. Not user-agent or hop-by-hop headers (proxies rewrite).
_SIGNED = ("host", "content-type", "idempotency-key")


def require_botocore() -> Any:
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.session
    except ImportError as exc:
        raise ConfigurationError(
            f"CreditsAdminClient signs requests with SigV4 and needs botocore: pip install '{EXTRA}'.",
            code="missing_extra",
        ) from exc
    return botocore


def region_from_url(base_url: str) -> str | None:
    match = _EXECUTE_API_HOST.match(urlsplit(base_url).hostname or "")
    return match.group(1) if match else None


class SigV4Auth(httpx.Auth):
    requires_request_body = True

    def __init__(self, base_url: str, *, region: str | None = None, profile: str | None = None,
                 credentials: Any = None) -> None:
        botocore = require_botocore()
        self._signer_cls = botocore.auth.SigV4Auth
        self._request_cls = botocore.awsrequest.AWSRequest
        session = botocore.session.Session(profile=profile)  # no I/O until asked for credentials or config
        if credentials is None:
            credentials = session.get_credentials()  # the standard chain: env, config files, SSO, role, IMDS
            if credentials is None:
                raise ConfigurationError(
                    "No AWS credentials found (environment, ~/.aws config, SSO, container or instance role). "
                    "Locally any will do, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local.",
                    code="missing_credentials")
        self._credentials = credentials
        # An execute-api host names its region, which is the one the signature must use; a custom domain does not.
        self.region = (region or region_from_url(base_url) or os.environ.get("AWS_REGION")
                       or session.get_config_variable("region"))
        if not self.region:
            raise ConfigurationError("No AWS region: pass region=..., or set AWS_REGION / AWS_DEFAULT_REGION.",
                                     code="missing_region")

    def _frozen(self) -> Any:
        freeze = getattr(self._credentials, "get_frozen_credentials", None)
        return freeze() if callable(freeze) else self._credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _SIGNED}
        aws = self._request_cls(method=request.method, url=str(request.url), data=request.content, headers=headers)
        self._signer_cls(self._frozen(), SERVICE, self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            value = aws.headers.get(name)
            if value:
                request.headers[name] = value
        yield request
