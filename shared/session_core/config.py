"""Settings from environment variables, read once per container, the boto3 client factory and the clock type."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from session_rules import keys, limits

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

Clock = Callable[[], float]
"""Where the core reads the time: epoch seconds (time.time; tests pass a settable one)."""

TABLE = "TABLE_NAME"
SIGNING_SECRET = "SIGNING_SECRET_ID"


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else int(raw)


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    signing_secret_id: str
    token_expiry_secs: int = limits.DEFAULT_TOKEN_EXPIRY_SECS
    max_token_lifetime_secs: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS  # validation refuses longer-lived tokens
    session_ttl_secs: int = 3600
    debug_mode: bool = False
    revocation_check: bool = False
    key_cache_secs: int = keys.KEY_CACHE_SECS  # how stale a cached signing key may get before it is re-read

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=os.environ.get(TABLE, "").strip(),
            signing_secret_id=os.environ.get(SIGNING_SECRET, "").strip(),
            token_expiry_secs=_int("TOKEN_EXPIRY_SECS", limits.DEFAULT_TOKEN_EXPIRY_SECS),
            max_token_lifetime_secs=_int("MAX_TOKEN_LIFETIME_SECS", limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS),
            session_ttl_secs=_int("SESSION_TTL_SECS", 3600),
            debug_mode=_flag("DEBUG_MODE", False),
            revocation_check=_flag("REVOCATION_CHECK", False),
            key_cache_secs=_int("KEY_CACHE_SECS", keys.KEY_CACHE_SECS),
        )

    def missing(self, *required: str) -> list[str]:
        """The settings (env names) among `required` that are empty, each as a sentence."""
        values = {TABLE: self.table_name, SIGNING_SECRET: self.signing_secret_id}
        return [f"{name} is not set" for name in required if not values[name]]

    @property
    def lifetime_problem(self) -> str | None:
        """Why tokens minted with these settings could not validate, if they could not."""
        if self.token_expiry_secs > self.max_token_lifetime_secs:
            return "TOKEN_EXPIRY_SECS exceeds MAX_TOKEN_LIFETIME_SECS: validation would refuse every minted token"
        return None

    def problems(self, *required: str) -> list[str]:
        """What keeps these settings from serving a function that needs `required` (env names)."""
        lifetime = self.lifetime_problem
        return self.missing(*required) + ([lifetime] if lifetime else [])


@cache
def settings() -> Settings:
    """The container's settings (environment variables are fixed for its lifetime)."""
    return Settings.from_env()


# Bounded so that a dead dependency turns into a 503 within about three seconds:
# one retry, half a second to connect, one second to read.
CLIENT_CONFIG: dict[str, Any] = {
    # total_max_attempts counts the first try (botocore's max_attempts would count retries only).
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "connect_timeout": 0.5,
    "read_timeout": 1.0,
    "tcp_keepalive": True,
}


@cache
def client(service: str) -> Any:
    """A shared boto3 client (thread-safe) for any service; honours AWS_ENDPOINT_URL natively.

    dynamodb() and secretsmanager() return the same cached clients, typed.
    """
    import boto3
    from botocore.config import Config

    session: Any = boto3.session.Session()  # Any: the service name is a runtime string
    return session.client(service, config=Config(**CLIENT_CONFIG))


def dynamodb() -> DynamoDBClient:
    """The shared DynamoDB client."""
    return client("dynamodb")


def secretsmanager() -> SecretsManagerClient:
    """The shared Secrets Manager client."""
    return client("secretsmanager")
