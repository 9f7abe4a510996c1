"""Deploying the dashboard: generated config.json and uploads (moto S3, single-threaded)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from publish_dashboard import build_config, files_to_upload, pinned_csp, publish

OUTPUTS = {
    "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/",
    "DashboardUrl": "https://d111.cloudfront.net",
    "UserPoolClientId": "client123",
    "CognitoDomain": "https://credits-dev-1.auth.us-east-1.amazoncognito.com",
    "DashboardBucketName": "dash",
}


def test_config_points_the_dashboard_at_the_api_and_cognito_with_pkce_redirect():
    config = build_config(OUTPUTS)
    assert config["apiBase"] == "https://abc.execute-api.us-east-1.amazonaws.com"
    assert config["auth"] == {
        "mode": "cognito", "domain": OUTPUTS["CognitoDomain"], "clientId": "client123",
        "redirectUri": "https://d111.cloudfront.net/", "scopes": ["openid", "email"], "tokenType": "id",
    }


def test_config_without_cognito_outputs_is_refused():
    with pytest.raises(SystemExit):
        build_config({k: v for k, v in OUTPUTS.items() if k != "UserPoolClientId"})


def test_publish_uploads_every_asset_with_its_content_type_and_the_config():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="dash")
        keys = publish(s3, "dash", build_config(OUTPUTS))
        assert "index.html" in keys and "config.json" in keys
        assert any(k.endswith(".js") for k in keys) and "README.md" not in keys
        assert not any(k.startswith("test/") for k in keys)  # its unit tests stay home
        assert s3.head_object(Bucket="dash", Key="index.html")["ContentType"] == "text/html"
        js = next(k for k in keys if k.endswith(".js"))
        assert s3.head_object(Bucket="dash", Key=js)["ContentType"] == "text/javascript"
        body = json.loads(s3.get_object(Bucket="dash", Key="config.json")["Body"].read())
        assert body["auth"]["clientId"] == "client123"
    assert len(files_to_upload()) == len(keys) - 1


def test_published_index_pins_connect_src_to_this_stacks_api_and_cognito():
    # CloudFront's header can only allow the region's execute-api hosts (a reference to the API would be a cycle);
    # the page itself carries the exact origins, and browsers enforce both policies.
    assert pinned_csp(build_config(OUTPUTS)) == (
        "connect-src 'self' https://abc.execute-api.us-east-1.amazonaws.com "
        "https://credits-dev-1.auth.us-east-1.amazoncognito.com")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="dash")
        publish(s3, "dash", build_config(OUTPUTS))
        page = s3.get_object(Bucket="dash", Key="index.html")["Body"].read().decode()
    head = page.split("</head>")[0]
    assert '<meta http-equiv="Content-Security-Policy" content="connect-src &#x27;self&#x27; ' in head
    assert head.index("Content-Security-Policy") < head.index("<script")  # in force before any script runs
