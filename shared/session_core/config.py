"""Settings from environment variables, read once per container, and the boto3 client factory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any


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
    token_expiry_secs: int = 900
    session_ttl_secs: int = 3600
    debug_mode: bool = False
    revocation_check: bool = False
    key_cache_secs: int = 300  # how stale a cached signing key may get before it is re-read

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=os.environ.get("TABLE_NAME", ""),
            signing_secret_id=os.environ.get("SIGNING_SECRET_ID", ""),
            token_expiry_secs=_int("TOKEN_EXPIRY_SECS", 900),
            session_ttl_secs=_int("SESSION_TTL_SECS", 3600),
            debug_mode=_flag("DEBUG_MODE", False),
            revocation_check=_flag("REVOCATION_CHECK", False),
            key_cache_secs=_int("KEY_CACHE_SECS", 300),
        )


@cache
def settings() -> Settings:
    """The container's settings (environment variables are fixed for its lifetime)."""
    return Settings.from_env()


# Bounded so that a dead dependency turns into a 503 within about three seconds:
# one retry, half a second to connect, one second to read.
CLIENT_CONFIG: dict[str, Any] = {
    # total_max_attempts counts the first try; botocore's max_attempts counts retries only (2 gave 3 tries).
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "connect_timeout": 0.5,
    "read_timeout": 1.0,
    "tcp_keepalive": True,
}


@cache
def client(service: str) -> Any:
    """A shared boto3 client (thread-safe); honours AWS_ENDPOINT_URL natively."""
    import boto3
    from botocore.config import Config

    session: Any = boto3.session.Session()  # Any: the service name is a runtime string
    return session.client(service, config=Config(**CLIENT_CONFIG))
