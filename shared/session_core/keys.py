"""The HMAC signing key: Secrets Manager's AWSCURRENT and AWSPREVIOUS versions, cached per container."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from session_rules import keys as key_rules
from session_rules import limits
from session_rules.keys import CURRENT, PREVIOUS, REFRESH_INTERVAL_SECS

from .errors import KeyUnavailable, Misconfigured

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_secretsmanager import SecretsManagerClient


@dataclass(frozen=True, slots=True)
class Version:
    """One version of the secret: its text and when it was created (epoch seconds; None if not given)."""

    text: str
    created: float | None

    @property
    def key(self) -> bytes:
        """The HMAC key: the text's UTF-8 bytes, as the SDK keys it."""
        return self.text.encode()


_NO_VERSION = Version("", None)  # no rotation yet: there is no AWSPREVIOUS


class _StageProvider(BaseProvider):
    """Powertools provider whose parameter "name" is a version stage of one secret.

    Powertools caches by name only (not by VersionStage), so keying the cache by
    stage is what lets AWSCURRENT and AWSPREVIOUS be cached side by side.
    """

    def __init__(self, secret_id: str, client: SecretsManagerClient) -> None:
        super().__init__()
        self.client = client
        self.secret_id = secret_id

    def _get(self, name: str, **sdk_options: Any) -> dict[str, Any]:
        """{"version": Version}: Powertools caches any dict as it is."""
        try:
            answer = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=name)
        except self.client.exceptions.ResourceNotFoundException:
            if name == PREVIOUS:
                return {"version": _NO_VERSION}  # cached like any other answer
            raise
        created = answer.get("CreatedDate")
        return {"version": Version(str(answer.get("SecretString", "")), created.timestamp() if created else None)}

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError


class KeyRing:
    """Signing keys as bytes (the SDK keys HMAC with the secret string's UTF-8 bytes).

    A warm container makes no Secrets Manager call until `max_age` passes; if the
    re-read then fails, the last good key keeps serving so an outage of Secrets
    Manager does not stop validation.

    A key is used only when it has the rotation's shape (limits.is_signing_key); any other value
    is Misconfigured (an error log and a 500), never a key. The key a rotation retired
    (AWSPREVIOUS) checks tokens only while one legitimately minted with it can still be alive:
    until AWSCURRENT's CreatedDate + `max_token_lifetime_secs` + `max_age` (session_rules.keys).
    """

    def __init__(
        self,
        secret_id: str,
        client: SecretsManagerClient,
        max_age: int,
        refresh_interval: float = REFRESH_INTERVAL_SECS,
        *,
        max_token_lifetime_secs: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
    ) -> None:
        self._provider = _StageProvider(secret_id, client)
        self._max_age = max_age
        self._max_token_lifetime_secs = max_token_lifetime_secs
        self._last_good: dict[str, Version] = {}
        self._refresh_interval = refresh_interval
        self._refreshed_at = float("-inf")

    def _version(self, stage: str, force: bool = False) -> Version:
        try:
            value = self._provider.get(stage, max_age=self._max_age, force_fetch=force)
        except GetParameterError as exc:
            if stage in self._last_good:
                return self._last_good[stage]
            raise KeyUnavailable(stage) from exc
        assert isinstance(value, dict)  # what _StageProvider returns
        version: Version = value["version"]
        self._last_good[stage] = version
        return version

    @staticmethod
    def _checked(version: Version, stage: str) -> bytes:
        if not limits.is_signing_key(version.text):
            problem = f"the signing secret's {stage} value is not {limits.SIGNING_KEY_RULE}: never used as a key"
            raise Misconfigured(problem)
        return version.key

    def current(self) -> bytes:
        """The key new tokens are signed with; Misconfigured when the secret holds no key of the rotation's shape."""
        return self._checked(self._version(CURRENT), CURRENT)

    def previous(self, now: float) -> bytes | None:
        """The key before the last rotation, while a token minted with it can still be alive at `now`."""
        rotated_at = self._version(CURRENT).created
        if not key_rules.retired_key_checks(rotated_at, now, self._max_token_lifetime_secs, self._max_age):
            return None
        version = self._version(PREVIOUS)
        return None if version == _NO_VERSION else self._checked(version, PREVIOUS)

    def candidates(self, now: float) -> Iterator[bytes]:
        """Keys a token may be signed with at `now`, most likely first, each read only when asked for.

        AWSCURRENT; then AWSPREVIOUS while it still checks tokens (a token minted before the last
        rotation); then, if neither matched and a re-read finds a rotation this container has not
        seen, the new keys.
        """
        current = self.current()
        yield current
        previous = self.previous(now)
        if previous:
            yield previous
        if self.refresh():
            yield from (key for key in (self.current(), self.previous(now)) if key and key not in (current, previous))

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
            current = self._version(CURRENT, force=True)
            self._version(PREVIOUS, force=True)
        except KeyUnavailable:
            return False
        return current.text != (before.text if before else None)
