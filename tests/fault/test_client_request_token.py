"""DynamoDB Local honours ``ClientRequestToken`` the way the ledger relies on (AWS keeps a token for 10 minutes).

The service gives every ``TransactWriteItems`` one token and lets botocore resend it when an answer is lost. If the
engine under the tests did not honour tokens, every "applied once" result of this suite would be luck. Checked on a
throwaway item of the session table, with a client configured like the service's, through the fault proxy.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .proxy import FaultProxy
from .schedule import Fault, Scripted


def client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=5),
    )


def add_one(ddb: Any, table: str, pk: str, token: str, by: int = 1) -> dict[str, Any]:
    return ddb.transact_write_items(  # type: ignore[no-any-return]
        TransactItems=[{"Update": {
            "TableName": table, "Key": {"PK": {"S": pk}, "SK": {"S": "COUNTER"}},
            "UpdateExpression": "ADD n :by", "ExpressionAttributeValues": {":by": {"N": str(by)}},
        }}],
        ClientRequestToken=token,
    )


def counter(ddb: Any, table: str, pk: str) -> int:
    item = ddb.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": "COUNTER"}}, ConsistentRead=True)
    return int(item.get("Item", {}).get("n", {"N": "0"})["N"])


@pytest.mark.parametrize("fault", [Fault.DROP_AFTER_SEND, Fault.TRUNCATE_RESPONSE, Fault.DUPLICATE_REQUEST])
def test_a_transaction_resent_with_its_token_after_a_lost_answer_applies_once(fault, ddb_proxy: FaultProxy,
                                                                             ddb_faults, ddb_local, table):
    ddb, direct = client(ddb_proxy.endpoint), client(ddb_local.endpoint)
    pk = f"FAULT_SUITE#token-{uuid.uuid4().hex}"
    with ddb_faults.inject(ddb=Scripted([fault], operations={"TransactWriteItems"}), label=fault.value) as window:
        answer = add_one(ddb, table, pk, uuid.uuid4().hex)
    assert window.ddb.injected == {fault: 1}
    assert answer["ResponseMetadata"]["RetryAttempts"] == (0 if fault is Fault.DUPLICATE_REQUEST else 1)
    assert counter(direct, table, pk) == 1


def test_the_same_token_again_is_a_no_op_and_with_other_parameters_is_refused(ddb_local, table):
    ddb = client(ddb_local.endpoint)
    pk = f"FAULT_SUITE#token-{uuid.uuid4().hex}"
    token, other = uuid.uuid4().hex, uuid.uuid4().hex
    add_one(ddb, table, pk, token)
    add_one(ddb, table, pk, other)
    add_one(ddb, table, pk, token)  # after another write with another token: still remembered
    assert counter(ddb, table, pk) == 2
    with pytest.raises(ClientError) as refused:
        add_one(ddb, table, pk, token, by=5)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert counter(ddb, table, pk) == 2
