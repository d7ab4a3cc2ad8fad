"""The HMAC signing key: Secrets Manager's AWSCURRENT and AWSPREVIOUS versions, cached per container."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from .errors import KeyUnavailable

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_secretsmanager import SecretsManagerClient

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"


class _StageProvider(BaseProvider):
    """Powertools provider whose parameter "name" is a version stage of one secret.

    Powertools caches by name only (not by VersionStage), so keying the cache by
    stage is what lets AWSCURRENT and AWSPREVIOUS be cached side by side.
    """

    def __init__(self, secret_id: str, client: SecretsManagerClient) -> None:
        super().__init__()
        self.client = client
        self.secret_id = secret_id

    def _get(self, name: str, **sdk_options: Any) -> str:
        try:
            return str(self.client.get_secret_value(SecretId=self.secret_id, VersionStage=name)["SecretString"])
        except self.client.exceptions.ResourceNotFoundException:
            if name == PREVIOUS:
                return ""  # no rotation yet: cached like any other answer
            raise

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError


class KeyRing:
    """Signing keys as bytes (the SDK keys HMAC with the secret string's UTF-8 bytes).

    A warm container makes no Secrets Manager call until `max_age` passes; if the
    re-read then fails, the last good key keeps serving so an outage of Secrets
    Manager does not stop validation.
    """

    def __init__(
        self, secret_id: str, client: SecretsManagerClient, max_age: int, refresh_interval: float = 5.0
    ) -> None:
        self._provider = _StageProvider(secret_id, client)
        self._max_age = max_age
        self._last_good: dict[str, bytes] = {}
        self._refresh_interval = refresh_interval
        self._refreshed_at = float("-inf")

    def _stage(self, stage: str, force: bool = False) -> bytes:
        try:
            value = self._provider.get(stage, max_age=self._max_age, force_fetch=force)
        except GetParameterError as exc:
            if stage in self._last_good:
                return self._last_good[stage]
            raise KeyUnavailable(stage) from exc
        key = str(value).encode()
        self._last_good[stage] = key
        return key

    def current(self) -> bytes:
        """The key new tokens are signed with."""
        return self._stage(CURRENT)

    def previous(self) -> bytes | None:
        """The key before the last rotation, if there was one."""
        return self._stage(PREVIOUS) or None

    def candidates(self) -> Iterator[bytes]:
        """Keys a token may be signed with, most likely first, each read only when asked for.

        AWSCURRENT; then AWSPREVIOUS (a token minted before the last rotation); then, if
        neither matched and a re-read finds a rotation this container has not seen, the new keys.
        """
        current = self.current()
        yield current
        previous = self.previous()
        if previous:
            yield previous
        if self.refresh():
            yield from (key for key in (self.current(), self.previous()) if key and key not in (current, previous))

    def refresh(self) -> bool:
        """Re-read both keys now, at most once per `refresh_interval`; True when the current key changed.

        A rotation finished since the cache was filled would otherwise leave this container
        rejecting new tokens for up to `max_age`; candidates() calls this when no cached key matches.
        """
        now = time.monotonic()
        if now - self._refreshed_at < self._refresh_interval:
            return False
        self._refreshed_at = now
        before = self._last_good.get(CURRENT)
        try:
            current = self._stage(CURRENT, force=True)
            self._stage(PREVIOUS, force=True)
        except KeyUnavailable:
            return False
        return current != before
