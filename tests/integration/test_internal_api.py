"""The IAM-authorized route backend services use to spend on a user's behalf (same domain call as /consume)."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed_post(http, url: str, body: bytes, **headers: str):
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json", **headers})
    SigV4Auth(Credentials("AKIDLOCAL", "local-secret"), "execute-api", "us-east-1").add_auth(request)
    return http.post(url, data=body, headers=dict(request.headers))


def test_internal_consume_spends_for_the_user_named_in_the_body(stack, http, user):
    stack.seed(user, 10, "seed")
    url = stack.url("/internal/credits/consume")
    r = signed_post(http, url, b'{"user_id": "%s", "amount": 4, "description": "batch job", "return_balance": true}'
                    % user.encode(), **{"Idempotency-Key": "job-1"})
    assert r.status_code == 200, r.text
    assert (r.json()["user_id"], r.json()["balance"]) == (user, 6)
    # return_balance is not part of what makes two requests "the same"
    again = signed_post(http, url, b'{"user_id": "%s", "amount": 4, "description": "batch job"}' % user.encode(),
                        **{"Idempotency-Key": "job-1"})
    assert again.json()["transaction_id"] == r.json()["transaction_id"] and again.json()["replayed"] is True
    refused = signed_post(http, url, b'{"user_id": "%s", "amount": 7}' % user.encode())
    assert refused.status_code == 402 and refused.json()["error"]["required"] == 7


def test_internal_consume_rejects_unsigned_and_jwt_callers(stack, http, user):
    url = stack.url("/internal/credits/consume")
    body = {"user_id": user, "amount": 1}
    assert http.post(url, json=body).status_code == 403
    assert http.post(url, json=body, headers=stack.headers(user)).status_code == 403


def test_internal_consume_validates_the_body(stack, http, user):
    url = stack.url("/internal/credits/consume")
    for body in (b'{"amount": 1}', b'{"user_id": "", "amount": 1}', b'{"user_id": "u", "amount": 0}', b"{"):
        r = signed_post(http, url, body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", body



def test_internal_and_user_idempotency_keys_do_not_collide(stack, http, user):
    stack.seed(user, 10, "seed")
    r_user = http.post(stack.url("/credits/consume"), json={"amount": 1},
                       headers=stack.headers(user, **{"Idempotency-Key": "shared"}))
    r_internal = signed_post(http, stack.url("/internal/credits/consume"),
                             b'{"user_id": "%s", "amount": 2, "return_balance": true}' % user.encode(),
                             **{"Idempotency-Key": "shared"})
    assert r_user.status_code == r_internal.status_code == 200
    assert r_user.json()["transaction_id"] != r_internal.json()["transaction_id"]
    assert r_internal.json()["balance"] == 7
