"""Creates the template's table and secret in an (emulated) AWS account."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from . import template

TABLE_ID = "SessionsTable"
SECRET_ID = "SigningKeySecret"


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
