"""Opaque history cursors: bound to one user and one type filter, integrity-checked, and short.

A cursor names only the sort key of the last entry shown. Authorization never rests on it: decoding checks that it
was issued for the caller and the same filter, and the MAC turns any edit into a clear 400 instead of odd paging.
The user is bound by a keyed hash, not embedded: a 256-character user id in any script (up to 1 KiB of UTF-8, six
characters each once JSON-escaped) would otherwise push the cursor past the API's 1,024-character limit. Today's
cursors are about 150 characters whatever the user id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from credits.errors import InvalidRequest

# Not a secret: the MAC detects tampering; user binding (checked below) is what keeps users apart.
_MAC_KEY = b"credits-history-cursor-v1"
_ENTRY_PREFIX = "ENTRY#"


def _mac(payload: bytes) -> str:
    return hmac.new(_MAC_KEY, payload, hashlib.sha256).hexdigest()[:32]


def _user_tag(user_id: str) -> str:
    """16 characters standing for the user (96 bits of a keyed hash); "surrogatepass" so no id can fail to encode."""
    digest = hmac.new(_MAC_KEY, b"user:" + user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def encode_cursor(sort_key: str, *, user_id: str, entry_type: str | None) -> str:
    payload = json.dumps({"h": _user_tag(user_id), "t": entry_type, "k": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _mac(payload)


def decode_cursor(
    cursor: str, *, user_id: str, entry_type: str | None, prefixes: tuple[str, ...] = (_ENTRY_PREFIX,)
) -> str:
    invalid = InvalidRequest("cursor is invalid: pass next_cursor from the previous page unchanged.")
    try:
        body, mac = cursor.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        data = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise invalid from exc
    # compare_digest refuses non-ASCII str (TypeError): compare bytes, so a crafted cursor is a 400, never a 500.
    if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), _mac(payload).encode()) or not isinstance(
            data, dict):
        raise invalid
    # "u" (the user id itself) is what cursors issued before the keyed hash carry: still honoured.
    same_user = data.get("h") == _user_tag(user_id) if "h" in data else data.get("u") == user_id
    if not same_user or data.get("t") != entry_type:
        raise InvalidRequest("cursor does not belong to this user and filter.")
    key = data.get("k")
    if not isinstance(key, str) or not key.startswith(prefixes) or len(key) > 200:
        raise invalid
    return key
