"""The contract's rule for a token's claims, shared by the handlers and the local stack's authorizer.

A verified signature says who issued the token, not that its claims are usable: the user is ``sub``, so it must be a
non-empty string of valid Unicode (a lone surrogate such as ``"\\ud800"`` cannot be stored or encoded) of at most
256 characters, and ``exp`` must be a number (PyJWT accepts ``"exp": "9999999999"`` as a string). Anything else is
answered 401 like a missing token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

MAX_SUB_LENGTH = 256
# API Gateway hands JWT claims to Lambda as strings, so there a number arrives as its decimal text.
_NUMBER_TEXT = re.compile(r"-?\d{1,20}(\.\d{1,20})?", re.ASCII)


def sub_problem(sub: Any) -> str | None:
    """Why ``sub`` is not a usable user id, or None when it is."""
    if not isinstance(sub, str) or not sub.strip():
        return "the token's sub claim must be a non-empty string"
    if len(sub) > MAX_SUB_LENGTH:
        return f"the token's sub claim must be at most {MAX_SUB_LENGTH} characters"
    try:
        sub.encode("utf-8")
    except UnicodeEncodeError:
        return "the token's sub claim must be valid Unicode"
    return None


def exp_problem(exp: Any, *, as_text: bool = False) -> str | None:
    """Why ``exp`` is not a number (a JSON number; with ``as_text``, also its decimal text), or None."""
    if isinstance(exp, bool):
        return "the token's exp claim must be a number"
    if isinstance(exp, int):
        return None
    if isinstance(exp, float):
        return None if math.isfinite(exp) else "the token's exp claim must be a number"
    if as_text and isinstance(exp, str) and _NUMBER_TEXT.fullmatch(exp):
        return None
    return "the token's exp claim must be a number"


def claims_problem(claims: Mapping[str, Any], *, as_text: bool = False) -> str | None:
    """Why these claims do not identify a user (sub, then exp), or None when they do."""
    return sub_problem(claims.get("sub")) or exp_problem(claims.get("exp"), as_text=as_text)
