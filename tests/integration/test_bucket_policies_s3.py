"""docs/s3/ policies enforced by moto's S3 server on 127.0.0.1 with IAM authentication on.

What moto can and cannot show: it checks a request against the *identity* policies of the
caller's access key (Action/NotAction and Resource, explicit Deny first), but it ignores a
bucket policy's ``Principal`` and evaluates any unmet ``Condition`` as a Deny. So each role here
is an IAM user carrying the bucket policy's unconditional statements that name it or everyone
(``Principal`` removed); the conditional ones (new objects only, TLS only) are checked by the
model in tests/unit/test_bucket_policies.py, and the new-objects-only put by
tests/integration/test_landing_s3.py against moto's real conditional put.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.moto import moto_endpoint

pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = pytest.mark.s3
DOCS = Path(__file__).parents[2] / "docs" / "s3"
PRODUCER = "arn:aws:iam::111122223333:role/tradelake-producer"
ANALYST = "arn:aws:iam::111122223333:role/tradelake-analyst"


def identity_policy(bucket_policy: dict[str, Any], principal: str) -> str:
    """The statements of ``bucket_policy`` that apply to ``principal`` without a condition."""
    statements = []
    for statement in bucket_policy["Statement"]:
        who = statement["Principal"]
        if "Condition" in statement or not (who == "*" or principal in who["AWS"]):
            continue
        statements.append({k: v for k, v in statement.items() if k != "Principal"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def clients(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Buckets with an object each, and an S3 client per role, while moto enforces IAM."""
    from moto.core.authorization import enable_iam_authentication

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # moto's accounts live in the process, not the server: start each test from nothing.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    admin = {"endpoint_url": endpoint, "aws_access_key_id": "a", "aws_secret_access_key": "a"}
    s3 = boto3.client("s3", **admin)
    for bucket in ("tradelake-landing", "tradelake-staging"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="tradelake-landing", Key="atas/old.xlsx", Body=b"landed")
    s3.put_object(Bucket="tradelake-staging", Key="trades_raw/part-a.parquet", Body=b"staged")
    landing = json.loads((DOCS / "landing-producer-policy.json").read_text())
    staging = json.loads((DOCS / "staging-analyst-policy.json").read_text())
    pipeline = (DOCS / "pipeline-identity-policy.json").read_text()
    roles = {
        "producer": identity_policy(landing, PRODUCER),
        "analyst": identity_policy(staging, ANALYST),
        "pipeline": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    *json.loads(pipeline)["Statement"],
                    *json.loads(identity_policy(landing, "pipeline"))["Statement"],
                ],
            }
        ),
    }
    iam = boto3.client("iam", **admin)
    made: dict[str, Any] = {}
    for role, document in roles.items():
        iam.create_user(UserName=role)
        iam.put_user_policy(UserName=role, PolicyName="tradelake", PolicyDocument=document)
        key = iam.create_access_key(UserName=role)["AccessKey"]
        made[role] = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
    with enable_iam_authentication():
        yield made


def refused(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


def test_a_producer_can_put_but_not_read_list_or_delete_landing(
    clients: dict[str, Any],
) -> None:
    producer = clients["producer"]
    producer.put_object(Bucket="tradelake-landing", Key="atas/new.xlsx", Body=b"export")
    assert refused(producer.get_object, Bucket="tradelake-landing", Key="atas/old.xlsx")
    assert refused(producer.delete_object, Bucket="tradelake-landing", Key="atas/old.xlsx")
    assert refused(producer.list_objects_v2, Bucket="tradelake-landing")
    assert refused(producer.put_object, Bucket="tradelake-staging", Key="x", Body=b"x")


def test_an_analyst_can_read_but_not_write_or_delete_staging(clients: dict[str, Any]) -> None:
    analyst = clients["analyst"]
    body = analyst.get_object(Bucket="tradelake-staging", Key="trades_raw/part-a.parquet")
    assert body["Body"].read() == b"staged"
    listed = analyst.list_objects_v2(Bucket="tradelake-staging")["Contents"]
    assert [o["Key"] for o in listed] == ["trades_raw/part-a.parquet"]
    key = "trades_raw/part-a.parquet"
    assert refused(analyst.put_object, Bucket="tradelake-staging", Key=key, Body=b"forged")
    assert refused(analyst.delete_object, Bucket="tradelake-staging", Key=key)
    assert refused(analyst.get_object, Bucket="tradelake-landing", Key="atas/old.xlsx")


def test_the_pipeline_reads_landing_owns_staging_and_cannot_delete_landing(
    clients: dict[str, Any],
) -> None:
    pipeline = clients["pipeline"]
    got = pipeline.get_object(Bucket="tradelake-landing", Key="atas/old.xlsx")["Body"].read()
    assert got == b"landed"
    pipeline.put_object(Bucket="tradelake-staging", Key="trades_raw/part-b.parquet", Body=b"b")
    pipeline.delete_object(Bucket="tradelake-staging", Key="trades_raw/part-b.parquet")
    assert refused(pipeline.delete_object, Bucket="tradelake-landing", Key="atas/old.xlsx")
