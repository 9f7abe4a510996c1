"""The stack's Stripe webhook endpoint: found or created, its signing secret in SSM, converged on every run.

Stripe facts this follows: ``webhook_endpoints.create`` takes ``api_version`` only at creation, has no ``disabled``
parameter (the endpoint is live at once) and returns the ``secret`` only in that answer. So the webhook function
refuses to start until a well-formed secret is in SSM (early deliveries get a 5xx and Stripe retries them), and the
deploy writes the secret the moment Stripe returns it.

Which endpoint the stored secret belongs to is written in the SSM parameter's description (``... endpoint we_...``):
a re-run keeps that endpoint when it still exists, has the pinned ``api_version`` and the secret is well formed,
updating only ``url``, ``enabled_events``, its metadata tag or a disabled status in place. Otherwise (first deploy,
secret lost or malformed, secret not linked to an endpoint we know, API version changed, rotation asked) it creates a
new endpoint, stores its secret, and only then deletes the old ones: every event in between is delivered by at least
one endpoint, and the service's state-based processing makes a double delivery harmless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import stripe
from deploy_ports import SECURE_STRING, DeployError, ParameterStore, StoredParameter

from credits.config import check_stripe_webhook_secret
from credits.errors import ConfigError

STACK_TAG = "credits_stack"
MANAGED_BY = "scripts/deploy.py"
_LINKED_ENDPOINT = re.compile(r"\bendpoint (we_[A-Za-z0-9]+)\b")


@dataclass(frozen=True)
class EndpointSpec:
    stack_name: str
    url: str
    secret_parameter: str
    events: Sequence[str]
    api_version: str

    @property
    def metadata(self) -> dict[str, str]:
        return {STACK_TAG: self.stack_name, "managed_by": MANAGED_BY}

    def secret_description(self, endpoint_id: str) -> str:
        return (f"Signing secret of Stripe webhook endpoint {endpoint_id} of stack {self.stack_name} "
                f"(written by {MANAGED_BY})")


@dataclass
class EndpointOutcome:
    endpoint_id: str
    created: bool = False
    reason: str = ""  # why a new endpoint was created
    updated: list[str] = field(default_factory=list)  # fields changed in place
    deleted: list[str] = field(default_factory=list)
    secret_written: bool = False


def linked_endpoint(stored: StoredParameter | None) -> str | None:
    """The endpoint id the stored secret was written for (None when written by hand or never)."""
    match = _LINKED_ENDPOINT.search(stored.description) if stored else None
    return match.group(1) if match else None


def secret_is_usable(stored: StoredParameter | None, name: str) -> bool:
    if stored is None:
        return False
    require_secure(stored, name)
    try:
        check_stripe_webhook_secret(stored.value, f"SSM parameter {name}")
    except ConfigError:
        return False
    return True


def require_secure(stored: StoredParameter, name: str) -> None:
    if stored.type != SECURE_STRING:
        raise DeployError(
            f"SSM parameter {name} is a {stored.type}, not a SecureString: delete it "
            f"(aws ssm delete-parameter --name {name}) and run the deploy again; it will be written encrypted."
        )


def _ours(endpoint: dict[str, Any], spec: EndpointSpec) -> bool:
    # Ours: tagged with this stack (also at an older URL of it), or anything delivering to this stack's URL.
    return bool((endpoint.get("metadata") or {}).get(STACK_TAG) == spec.stack_name or endpoint.get("url") == spec.url)


def _find_ours(client: stripe.StripeClient, spec: EndpointSpec) -> list[dict[str, Any]]:
    pages = client.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter()
    return [e.to_dict() for e in pages if _ours(e.to_dict(), spec)]


def _why_new(keeper: dict[str, Any] | None, usable: bool, linked: str | None, found: list[dict[str, Any]],
             spec: EndpointSpec, rotate: bool) -> str | None:
    """None to keep ``keeper``; else the reason a new endpoint is needed (printed)."""
    if keeper is None:
        if not found:
            return "no webhook endpoint for this stack yet"
        if not usable:
            return f"no well-formed signing secret in SSM {spec.secret_parameter} (lost or never stored)"
        if linked is None:
            return (f"the secret in SSM {spec.secret_parameter} names no endpoint (stored by hand?), so it cannot "
                    "be trusted to match any")
        return f"endpoint {linked}, which the stored secret belongs to, no longer exists"
    if keeper.get("api_version") != spec.api_version:
        return (f"endpoint {keeper['id']} renders events in API version {keeper.get('api_version')}, not "
                f"{spec.api_version} (fixed at creation: replacing it)")
    if rotate:
        return "rotation of the signing secret requested"
    return None


def _changes(endpoint: dict[str, Any], spec: EndpointSpec) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if endpoint.get("url") != spec.url:
        changes["url"] = spec.url
    if set(endpoint.get("enabled_events") or []) != set(spec.events):
        changes["enabled_events"] = list(spec.events)
    metadata = endpoint.get("metadata") or {}
    if any(metadata.get(k) != v for k, v in spec.metadata.items()):
        changes["metadata"] = spec.metadata
    if endpoint.get("status") == "disabled":
        changes["disabled"] = False
    return changes


def _create(client: stripe.StripeClient, params: ParameterStore, spec: EndpointSpec, overwrite: bool,
            say: Callable[[str], None]) -> tuple[str, bool]:
    # Any: the SDK types event names and API versions as literal lists, which a pinned newer version may outrun.
    create: Any = {
        "url": spec.url,
        "enabled_events": list(spec.events),
        "api_version": spec.api_version,
        "description": f"Credits service, stack {spec.stack_name}",
        "metadata": spec.metadata,
    }
    created = client.v1.webhook_endpoints.create(params=create)
    secret = created.secret
    say(f"webhook: created endpoint {created.id} ({len(spec.events)} events, api_version {spec.api_version})")
    try:
        if not secret:
            raise DeployError("Stripe answered the new endpoint without its signing secret")
        check_stripe_webhook_secret(secret, f"the signing secret of endpoint {created.id}")
        params.put_secure(spec.secret_parameter, secret, description=spec.secret_description(created.id),
                          overwrite=overwrite)
    except Exception as exc:
        # The endpoint is live but its secret is nowhere: the next run replaces it (it is tagged with the stack).
        raise DeployError(
            f"endpoint {created.id} was created but its signing secret could not be stored in SSM "
            f"{spec.secret_parameter} ({type(exc).__name__}); run the deploy again to replace it"
        ) from exc
    say(f"webhook: stored its signing secret in SSM {spec.secret_parameter} (SecureString)")
    return created.id, True


def ensure_endpoint(
    client: stripe.StripeClient,
    params: ParameterStore,
    spec: EndpointSpec,
    *,
    rotate: bool = False,
    say: Callable[[str], None] = print,
) -> EndpointOutcome:
    found = _find_ours(client, spec)
    stored = params.get(spec.secret_parameter)
    usable = secret_is_usable(stored, spec.secret_parameter)
    linked = linked_endpoint(stored) if usable else None
    keeper = next((e for e in found if e["id"] == linked), None)
    reason = _why_new(keeper, usable, linked, found, spec, rotate)
    if reason is None:
        assert keeper is not None
        outcome = EndpointOutcome(endpoint_id=keeper["id"])
        changes = _changes(keeper, spec)
        if changes:
            update: Any = changes
            client.v1.webhook_endpoints.update(keeper["id"], params=update)
            outcome.updated = sorted(changes)
            say(f"webhook: updated endpoint {keeper['id']} in place ({', '.join(outcome.updated)}); secret unchanged")
        else:
            say(f"webhook: endpoint {keeper['id']} is up to date; secret unchanged")
    else:
        say(f"webhook: creating a new endpoint: {reason}")
        endpoint_id, written = _create(client, params, spec, overwrite=stored is not None, say=say)
        outcome = EndpointOutcome(endpoint_id=endpoint_id, created=True, reason=reason, secret_written=written)
    for old in found:
        if old["id"] == outcome.endpoint_id:
            continue
        try:
            client.v1.webhook_endpoints.delete(old["id"])
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
        outcome.deleted.append(old["id"])
        say(f"webhook: deleted endpoint {old['id']} (replaced; its secret is no longer in SSM)")
    return outcome
