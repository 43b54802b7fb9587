"""The bucket policies under docs/s3/ are valid IAM policy JSON and say what operations.md
promises: landing is write-only for producers (new objects only) and undeletable, staging is
read-only for analysts.

moto evaluates neither a bucket policy's ``Principal`` nor most ``Condition`` operators, so the
decisions here come from a small model of IAM's evaluation (an explicit Deny wins, else an
Allow, else denied) over the statements as written; tests/integration/test_bucket_policies_s3.py
then shows moto enforcing the unconditional statements for real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parents[2] / "docs" / "s3"
PRODUCER = "arn:aws:iam::111122223333:role/tradelake-producer"
ANALYST = "arn:aws:iam::111122223333:role/tradelake-analyst"
LANDING, STAGING = "tradelake-landing", "tradelake-staging"
POLICIES = {
    "landing-producer-policy.json": LANDING,
    "staging-analyst-policy.json": STAGING,
    "pipeline-identity-policy.json": None,
}
ELEMENTS = {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "Condition"}


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DOCS / name).read_text(encoding="utf-8"))
    return body


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_is_valid_iam_json(name: str) -> None:
    policy = load(name)
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert statements and len({s["Sid"] for s in statements}) == len(statements)
    bucket = POLICIES[name]
    for statement in statements:
        assert set(statement) <= ELEMENTS, statement["Sid"]
        assert statement["Effect"] in {"Allow", "Deny"}
        assert ("Action" in statement) != ("NotAction" in statement)
        # A bucket policy names its principals; an identity policy must not.
        assert ("Principal" in statement) == (bucket is not None)
        for action in _list(statement.get("Action") or statement["NotAction"]):
            assert re.fullmatch(r"s3:(\*|[A-Z][A-Za-z]+)", action), action
        for resource in _list(statement["Resource"]):
            assert re.fullmatch(r"arn:aws:s3:::tradelake-(landing|staging)(/\*)?", resource)
            assert bucket is None or resource.startswith(f"arn:aws:s3:::{bucket}")


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def decide(
    policy: dict[str, Any],
    principal: str,
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> bool:
    """IAM's order for one policy: any matching Deny refuses, else any matching Allow grants,
    else the request is refused (the implicit deny)."""
    matching = [s for s in policy["Statement"] if _applies(s, principal, action, resource, context)]
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    return any(s["Effect"] == "Allow" for s in matching)


def _applies(
    statement: dict[str, Any],
    principal: str,
    action: str,
    resource: str,
    context: dict[str, str] | None,
) -> bool:
    who = statement.get("Principal", "*")
    if who != "*" and principal not in _list(who["AWS"]):
        return False
    if "Action" in statement:
        acts = any(_glob(a, action) for a in _list(statement["Action"]))
    else:
        acts = not any(_glob(a, action) for a in _list(statement["NotAction"]))
    on = any(_glob(r, resource) for r in _list(statement["Resource"]))
    return acts and on and _conditions(statement.get("Condition", {}), context or {})


def _conditions(conditions: dict[str, dict[str, str]], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if operator == "Null":
                if (key not in context) != (expected == "true"):
                    return False
            elif operator == "Bool":
                if context.get(key) != expected:
                    return False
            else:
                raise AssertionError(f"the model does not know the {operator} operator")
    return True


def _glob(pattern: str, value: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), value) is not None


TLS = {"aws:SecureTransport": "true"}
CREATE = {**TLS, "s3:if-none-match": "*"}
LANDED = f"arn:aws:s3:::{LANDING}/atas/2026/01/02/abc.xlsx"
STAGED = f"arn:aws:s3:::{STAGING}/trades_raw/month=2026-01/source=atas/part-abc.parquet"


def test_producers_can_only_create_landing_objects() -> None:
    policy = load("landing-producer-policy.json")
    assert decide(policy, PRODUCER, "s3:PutObject", LANDED, CREATE)
    assert not decide(policy, PRODUCER, "s3:PutObject", LANDED, TLS)  # an overwrite
    plain_http = {"aws:SecureTransport": "false", "s3:if-none-match": "*"}
    assert not decide(policy, PRODUCER, "s3:PutObject", LANDED, plain_http)
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:GetObjectVersion"):
        assert not decide(policy, PRODUCER, action, LANDED, TLS), action
    assert not decide(policy, PRODUCER, "s3:ListBucket", f"arn:aws:s3:::{LANDING}", TLS)
    assert not decide(policy, ANALYST, "s3:PutObject", LANDED, CREATE)  # not a producer


def test_nobody_deletes_or_overwrites_landing_whatever_their_own_rights() -> None:
    landing = load("landing-producer-policy.json")
    admin = "arn:aws:iam::111122223333:role/admin"
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert any(
            s["Effect"] == "Deny" and _applies(s, admin, action, LANDED, TLS)
            for s in landing["Statement"]
        ), action
    assert any(
        s["Effect"] == "Deny" and _applies(s, admin, "s3:PutObject", LANDED, TLS)
        for s in landing["Statement"]
    )


def test_analysts_can_only_read_staging() -> None:
    policy = load("staging-analyst-policy.json")
    assert decide(policy, ANALYST, "s3:GetObject", STAGED, TLS)
    assert decide(policy, ANALYST, "s3:ListBucket", f"arn:aws:s3:::{STAGING}", TLS)
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:PutBucketPolicy"):
        resource = STAGED if "Object" in action else f"arn:aws:s3:::{STAGING}"
        assert not decide(policy, ANALYST, action, resource, TLS), action
    assert not decide(policy, ANALYST, "s3:GetObject", STAGED, {"aws:SecureTransport": "false"})
    assert not decide(policy, PRODUCER, "s3:GetObject", STAGED, TLS)


def test_the_pipeline_appends_to_landing_and_owns_staging() -> None:
    pipeline = load("pipeline-identity-policy.json")
    role = "arn:aws:iam::111122223333:role/tradelake-pipeline"
    assert decide(pipeline, role, "s3:GetObject", LANDED)
    assert decide(pipeline, role, "s3:PutObject", LANDED)
    assert not decide(pipeline, role, "s3:DeleteObject", LANDED)
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert decide(pipeline, role, action, STAGED), action
    # Its conditional puts pass the landing bucket's Deny statements; plain ones do not.
    landing = load("landing-producer-policy.json")
    denies = [s for s in landing["Statement"] if s["Effect"] == "Deny"]
    assert not any(_applies(s, role, "s3:PutObject", LANDED, CREATE) for s in denies)
    assert any(_applies(s, role, "s3:PutObject", LANDED, TLS) for s in denies)
