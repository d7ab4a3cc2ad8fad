"""The emulated account the `aws` fixture (tests/conftest.py) provisions, and clients built as the core builds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local.aws import Provisioned


@dataclass(frozen=True)
class AwsAccount:
    """The emulated account: clients (with the core's client config) and what was provisioned."""

    dynamodb: Any
    secretsmanager: Any
    table_name: str
    secret_id: str
    signing_key: str
    environment: dict[str, str]  # the template's function environment, resolved to these resources

    @property
    def provisioned(self) -> Provisioned:
        return Provisioned(self.table_name, self.secret_id, self.signing_key)


def core_client(service: str) -> Any:
    """A boto3 client configured as session_core.config builds them (retries, timeouts)."""
    import boto3
    from botocore.config import Config
    from session_core.config import CLIENT_CONFIG

    session: Any = boto3.session.Session()  # Any: the service name is a runtime string
    return session.client(service, config=Config(**CLIENT_CONFIG))
