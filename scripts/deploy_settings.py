"""What one stage deploys to, read from samconfig.toml (stack, region, parameter overrides) and template.yaml defaults.

``sam deploy --config-env <stage>`` reads the same file, so the deploy script and SAM never disagree on the stack or
on the SSM parameter names the functions are given. Pure: no AWS, no Stripe.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"

KEY_PARAMETER = "StripeSecretKeyParameter"
WEBHOOK_PARAMETER = "StripeWebhookSecretParameter"
API_BASE_PARAMETER = "StripeApiBase"


class SettingsError(Exception):
    """samconfig.toml or template.yaml cannot say where this stage deploys."""


@dataclass(frozen=True)
class StageSettings:
    stage: str
    stack_name: str
    region: str | None  # None: the AWS profile's region decides (checked before anything runs)
    parameters: Mapping[str, str]  # the stack parameters SAM will pass: samconfig overrides over template defaults

    @property
    def key_parameter(self) -> str:
        return self.parameters[KEY_PARAMETER]

    @property
    def webhook_parameter(self) -> str:
        return self.parameters[WEBHOOK_PARAMETER]

    @property
    def stripe_api_base(self) -> str | None:
        # The deployed functions call Stripe there (a stripe-mock); the deploy must register the endpoint there too.
        return self.parameters.get(API_BASE_PARAMETER) or None


def parse_overrides(raw: str | list[str] | None) -> dict[str, str]:
    """SAM's ``parameter_overrides``: ``"A=1 B='two words'"`` or a list of ``"A=1"`` strings."""
    if raw is None:
        return {}
    items = shlex.split(raw) if isinstance(raw, str) else [part for item in raw for part in shlex.split(item)]
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SettingsError(f"parameter_overrides: expected Name=Value, got {item!r}")
        out[name] = value
    return out


def _section(config: Mapping[str, Any], stage: str, command: str) -> Mapping[str, Any]:
    section = config.get(stage, {}).get(command, {}).get("parameters", {})
    return section if isinstance(section, Mapping) else {}


def template_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


def load_stage(stage: str, samconfig: Path = SAMCONFIG, template: Mapping[str, Any] | None = None) -> StageSettings:
    """The stage's settings as ``sam deploy --config-env <stage>`` sees them (a command's section over ``global``)."""
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {samconfig.name}: {exc}") from exc
    if not _section(config, stage, "deploy"):
        stages = sorted(k for k, v in config.items() if isinstance(v, dict) and "deploy" in v)
        raise SettingsError(f"{samconfig.name} has no [{stage}.deploy.parameters]; stages: {', '.join(stages)}")
    merged = {**_section(config, stage, "global"), **_section(config, stage, "deploy")}
    stack = str(merged.get("stack_name") or "")
    if not stack:
        raise SettingsError(f"{samconfig.name}: stage {stage} has no stack_name")
    if template is None:
        from local.template import load_template

        template = load_template()
    parameters = {**template_defaults(template), **parse_overrides(merged.get("parameter_overrides"))}
    for name in (KEY_PARAMETER, WEBHOOK_PARAMETER):
        if not parameters.get(name, "").startswith("/"):
            raise SettingsError(f"{name} must name an SSM parameter (/path/name), got {parameters.get(name)!r}")
    if parameters[KEY_PARAMETER] == parameters[WEBHOOK_PARAMETER]:
        raise SettingsError(f"{KEY_PARAMETER} and {WEBHOOK_PARAMETER} must be two different SSM parameters")
    region = str(merged.get("region") or "") or None
    return StageSettings(stage=stage, stack_name=stack, region=region, parameters=parameters)
