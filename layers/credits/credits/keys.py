"""Item keys of the single table, shared by the adapters and the few domain rules that compare them.

    USER#<sub>      BALANCE                       counters: available, held, unallocated, v, seq, nx, nh, hw
    USER#<sub>      BALANCE#GRANTS                the book: live grants (JSON), read with BALANCE in one Query
    USER#<sub>      ENTRY#tx_<ulid>               immutable ledger entry (GSI1PK = USER#<sub>#TYPE#<type>)
    USER#<sub>      GRANT#<grant id>              a grant's record (creation, then its final state once archived)
    USER#<sub>      GEXP#<ms>#<grant id>          an expiring grant, for the sweeper (GSI1PK = EXPIRING_GRANTS#<n>)
    USER#<sub>      HOLD#<hold id>                hold; status pending -> captured | released | expired
    USER#<sub>      PENDING#<epoch>#<hold id>     exists while a hold is pending (GSI1PK = PENDING_HOLDS#<n>); at or
                                                  below the balance's watermark ``hw`` its credits are back already
    USER#<sub>      IDEM#<op>#<sha256(key)>       idempotency record, written in the same transaction as the change
    PURCHASE#<cs>   PURCHASE                      checkout session -> user, bundle, credits, status, grant, clawback
    PAYMENT#<pi>    PAYMENT                       payment intent -> checkout session (refunds, disputes)
"""

from __future__ import annotations

import zlib

BALANCE_SK = "BALANCE"
BOOK_SK = "BALANCE#GRANTS"
ENTRY_PREFIX = "ENTRY#"
GRANT_PREFIX = "GRANT#"
PENDING_PREFIX = "PENDING#"
GRANT_EXPIRY_PREFIX = "GEXP#"
GSI1 = "GSI1"
SWEEP_SHARDS = 8


# Sort-key prefixes are queried as ranges, never with begins_with. On DynamoDB both are key conditions of equal cost,
# but DynamoDB Local answers begins_with by reading the user's whole partition: the bench measured a history page's
# entries Query at 2.5x on a partition of 20,096 items against one of 36 as begins_with, 1.2x as a range (26 items
# returned against 11), which would let the local stack and the benchmarks show a cost production does not have.
ACCOUNT_RANGE = (BALANCE_SK, BOOK_SK)  # the balance and its book, and nothing sorts between them


def prefix_range(prefix: str) -> tuple[str, str]:
    """Inclusive ``SK BETWEEN`` bounds equal to ``begins_with(SK, prefix)`` for the keys of this table.

    The upper bound is the prefix with its last character incremented ("ENTRY#" -> "ENTRY$"). A key with the prefix
    sorts between the bounds; a key without it sorts below the lower or above the upper bound, except one equal to
    the upper bound, which no key builder here makes (each prefix ends in "#" and is followed by an id). Only a
    printable ASCII last character below "~" is accepted, so the bump stays one byte in DynamoDB's UTF-8 order.
    """
    if not prefix or not " " <= prefix[-1] < "~":
        raise ValueError(f"prefix_range: cannot bound {prefix!r}")
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


ENTRY_RANGE = prefix_range(ENTRY_PREFIX)
GRANT_RANGE = prefix_range(GRANT_PREFIX)


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def user_of(pk: str) -> str:
    return pk.removeprefix("USER#")


def type_pk(user_id: str, entry_type: str) -> str:
    return f"USER#{user_id}#TYPE#{entry_type}"


def entry_sk(sort_id: str) -> str:
    return ENTRY_PREFIX + sort_id


def hold_sk(hold_id: str) -> str:
    return f"HOLD#{hold_id}"


def pending_sk(expires_epoch: int, hold_id: str) -> str:
    # Zero-padded so that string order is numeric order: "PENDING#0" .. "PENDING#<now>" = the expired holds.
    return f"{PENDING_PREFIX}{expires_epoch:012d}#{hold_id}"


def pending_upper(epoch: int) -> str:
    """The greatest marker key of holds expiring at or before ``epoch``."""
    return f"{PENDING_PREFIX}{epoch:012d}#~"


def grant_sk(grant_id: str) -> str:
    return GRANT_PREFIX + grant_id


def grant_expiry_sk(expires_ms: int, grant_id: str) -> str:
    return f"{GRANT_EXPIRY_PREFIX}{expires_ms:015d}#{grant_id}"


def grant_expiry_upper(ms: int) -> str:
    return f"{GRANT_EXPIRY_PREFIX}{ms:015d}#~"


def _shard(value: str) -> int:
    return zlib.crc32(value.encode()) % SWEEP_SHARDS


def hold_sweep_pk(hold_id: str) -> str:
    return f"PENDING_HOLDS#{_shard(hold_id)}"


def hold_sweep_shard_pk(shard: int) -> str:
    return f"PENDING_HOLDS#{shard}"


def grant_sweep_pk(grant_id: str) -> str:
    return f"EXPIRING_GRANTS#{_shard(grant_id)}"


def grant_sweep_shard_pk(shard: int) -> str:
    return f"EXPIRING_GRANTS#{shard}"


def idem_sk(operation: str, key_digest: str) -> str:
    return f"IDEM#{operation}#{key_digest}"


def purchase_pk(session_id: str) -> str:
    return f"PURCHASE#{session_id}"


def payment_pk(payment_intent: str) -> str:
    return f"PAYMENT#{payment_intent}"
