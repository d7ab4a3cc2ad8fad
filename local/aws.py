"""The emulated AWS account: where it listens, its clients, and the template's table and secret in it."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from typing import Any

from session_rules import limits

from . import template

HOST = "127.0.0.1"  # everything local listens on loopback only
REGION = "us-east-1"
# The emulated account's credentials (moto's): what its workers run with and AUTH=iam accepts.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
TABLE_ID = "SessionsTable"
SECRET_ID = "SigningKeySecret"


class NotProvisioned(LookupError):
    """The emulated account does not hold exactly one sessions table and one secret."""


def clients(endpoint: str) -> tuple[Any, Any]:
    """DynamoDB and Secrets Manager clients for the emulated account (never real AWS)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    return session.client("dynamodb", endpoint_url=endpoint), session.client("secretsmanager", endpoint_url=endpoint)


@dataclass(frozen=True)
class Provisioned:
    table_name: str
    secret_id: str  # the secret's ARN, as !Ref gives in AWS
    signing_key: str

    def refs(self) -> dict[str, str]:
        """Logical id → local name, for resolving the template's !Ref."""
        return {TABLE_ID: self.table_name, SECRET_ID: self.secret_id}


def random_key(length: int | None = None) -> str:
    """A key like the template's GenerateSecretString (letters and digits, no punctuation)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length or template.secret_length()))


def local_signing_key() -> str | None:
    """LOCAL_SIGNING_KEY when set, else None (a random key); ValueError when it is not a key.

    The functions refuse any other value as the service does on AWS (500 misconfigured), so a
    stack started with one would answer nothing useful.
    """
    key = os.environ.get("LOCAL_SIGNING_KEY") or None
    if key is not None and not limits.is_signing_key(key):
        raise ValueError(
            f"LOCAL_SIGNING_KEY must be a signing key as the template makes one: {limits.SIGNING_KEY_RULE}"
        )
    return key


def provision(dynamodb: Any, secretsmanager: Any, stage: str = "local", signing_key: str | None = None) -> Provisioned:
    """Create the table (with its TTL) and the signing-key secret, as `template.yaml` defines them."""
    table_name = f"swaig-sessions-{stage}"
    dynamodb.create_table(**template.create_table_kwargs(table_name))
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": template.ttl_attribute(), "Enabled": True},
    )
    key = signing_key or random_key()
    arn = secretsmanager.create_secret(Name=f"swaig-sessions-{stage}-signing-key", SecretString=key)["ARN"]
    return Provisioned(table_name, arn, key)


def discover(dynamodb: Any, secretsmanager: Any) -> Provisioned:
    """The table and secret a running `make serve` created: the tables with the template's key
    schema and the account's secret, each of which must be the only one."""
    key_schema = template.table_definition()["KeySchema"]
    tables = [
        name
        for name in dynamodb.list_tables()["TableNames"]
        if dynamodb.describe_table(TableName=name)["Table"]["KeySchema"] == key_schema
    ]
    found = secretsmanager.list_secrets()["SecretList"]
    if len(tables) != 1 or len(found) != 1:
        raise NotProvisioned(
            f"expected one sessions table and one secret in the emulated AWS, found {tables} and "
            f"{[s['Name'] for s in found]}"
        )
    arn = found[0]["ARN"]
    return Provisioned(tables[0], arn, secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
