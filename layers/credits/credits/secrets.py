"""Secret values: a plain env value (local runs) or an SSM SecureString read through Powertools (cached)."""

from __future__ import annotations

from credits.errors import ConfigError

SECRET_MAX_AGE_SECONDS = 300  # rotated secrets are picked up within five minutes, without a redeploy


def secret_value(value: str | None, parameter_name: str | None) -> str:
    if value:
        return value
    if not parameter_name:
        raise ConfigError("no secret value or parameter name configured")
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_parameter(parameter_name, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"SSM parameter {parameter_name} is empty")
    return secret
