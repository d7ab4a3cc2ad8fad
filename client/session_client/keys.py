"""Signing keys for in-process validation: a given secret, or the service's secret read by ARN."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .errors import SessionServiceError

log = logging.getLogger("session_client")


class StaticKeys:
    """A secret handed over directly (the SDK's `secret_key`): its UTF-8 bytes, as the service keys HMAC."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("secret_key must be a non-empty string")
        self._keys = (secret.encode(),)

    def keys(self) -> tuple[bytes, ...]:
        return self._keys

    def refresh(self) -> bool:
        return False  # a given secret never changes


class SecretKeys:
    """The service's Secrets Manager secret: AWSCURRENT and, after a rotation, AWSPREVIOUS.

    Read on first use, or before it in the background (`prefetch()`, which install() calls), so
    that an agent's first render seldom waits for them. Read again once `max_age` seconds
    have passed, like the service's own key cache, in the background: the keys held serve
    meanwhile, so minting never waits on Secrets Manager. Read at once (at most every
    `refresh_interval` seconds) when no key matches a token's signature, so a rotation finished
    since the last read is noticed as the service notices it: that check waits for the read. If
    a re-read fails the keys already held keep serving. Uses a botocore client (botocore is
    already a dependency, so no boto3 is needed); it honours AWS_ENDPOINT_URL and the usual
    credential chain.
    """

    def __init__(
        self,
        secret_arn: str,
        max_age: float = 300.0,
        region: str | None = None,
        refresh_interval: float = 5.0,
    ) -> None:
        self.secret_arn = secret_arn
        self.max_age = max_age
        self.refresh_interval = refresh_interval
        self._forced_at = float("-inf")
        self._region = region or _region_of_arn(secret_arn)
        self._client: Any = None
        self._keys: tuple[bytes, ...] = ()
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._starting = threading.Lock()

    def keys(self) -> tuple[bytes, ...]:
        if not self._keys:  # nothing to serve yet: read now (waiting for a read under way, if one is)
            with self._lock:
                if not self._keys:
                    self._refresh()
        elif time.monotonic() - self._read_at > self.max_age:
            self._read_soon()
        return self._keys

    def prefetch(self) -> None:
        """Start reading the keys in the background, unless they are held already."""
        if not self._keys:
            self._read_soon()

    def _read_soon(self) -> None:
        """Re-read in a background thread, unless one is under way."""
        with self._starting:  # not the read's lock: a read under way must not make this wait
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(target=self._read_now, name="session-client-keys", daemon=True)
            try:
                self._background.start()
            except RuntimeError:  # interpreter shutdown: the keys held serve
                self._background = None

    def _read_now(self) -> None:
        with self._lock:
            if self._keys and time.monotonic() - self._read_at <= self.max_age:
                return  # read meanwhile
            try:
                self._refresh()
            except SessionServiceError:  # nothing read yet: the first keys() reads again and raises
                log.warning("could not read the signing secret yet", exc_info=True)

    def refresh(self) -> bool:
        """Re-read now unless that was done within `refresh_interval`; True when the keys changed."""
        with self._lock:
            if time.monotonic() - self._forced_at < self.refresh_interval:
                return False
            self._forced_at = time.monotonic()
            before = self._keys
            self._refresh()
            return self._keys != before

    def _refresh(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            current = self._read("AWSCURRENT")
            try:
                keys: tuple[bytes, ...] = (current, self._read("AWSPREVIOUS"))
            except self._secrets().exceptions.ResourceNotFoundException:
                keys = (current,)  # never rotated: there is no AWSPREVIOUS
        except (BotoCoreError, ClientError) as exc:
            if not self._keys:  # nothing to fall back on: fail as every other client call fails
                raise SessionServiceError("keys_unavailable", f"could not read the signing secret: {exc}") from exc
            log.warning("could not re-read the signing secret; keeping the keys already read", exc_info=True)
            self._read_at = time.monotonic() - self.max_age + self.refresh_interval  # try again soon, not per call
            return
        self._keys = keys
        self._read_at = time.monotonic()

    def _secrets(self) -> Any:
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            # Bounded like the service's own clients: an outage must not stall every validation.
            config = Config(
                connect_timeout=0.5, read_timeout=1.0, retries={"mode": "standard", "total_max_attempts": 2}
            )
            self._client = botocore.session.get_session().create_client(
                "secretsmanager", region_name=self._region, config=config
            )
        return self._client

    def _read(self, stage: str) -> bytes:
        answer = self._secrets().get_secret_value(SecretId=self.secret_arn, VersionStage=stage)
        return str(answer["SecretString"]).encode()


def _region_of_arn(arn: str) -> str | None:
    """arn:aws:secretsmanager:<region>:<account>:secret:<name> → <region> (None for a bare name)."""
    parts = arn.split(":")
    return (parts[3] or None) if len(parts) > 5 and parts[0] == "arn" else None
