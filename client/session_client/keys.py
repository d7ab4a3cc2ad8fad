"""Signing keys for in-process minting and validation: a given secret, or the service's secret read by ARN.

Held to the service's own rules (session_rules): a value that is not a key of the rotation's shape
is never used, and the key a rotation retired checks tokens only while one minted with it can
still be alive.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from session_rules import keys as key_rules
from session_rules import limits
from session_rules.codes import ErrorCode

from .errors import ClientCode, SessionServiceError, service_error

log = logging.getLogger("session_client")


class StaticKeys:
    """A secret handed over directly (the SDK's `secret_key`): its UTF-8 bytes, as the service keys HMAC."""

    def __init__(self, secret: str) -> None:
        if not limits.is_signing_key(secret):
            # Never a key: a short or hand-typed secret would let anyone forge tokens.
            raise ValueError(f"secret_key must be the stack's signing key, {limits.SIGNING_KEY_RULE}")
        self._key = secret.encode()

    def current(self) -> bytes:
        """The key tokens are minted with."""
        return self._key

    def candidates(self, now: float) -> Iterator[bytes]:
        """The key a token may be signed with (a given secret never changes, nor retires)."""
        yield self._key


@dataclass(frozen=True, slots=True)
class _Held:
    """The secret's texts as read; each is checked (`_checked`) when it is about to be used."""

    current: str
    rotated_at: float | None  # AWSCURRENT's CreatedDate, epoch seconds
    previous: str | None


class SecretKeys:
    """The service's Secrets Manager secret: AWSCURRENT and, after a rotation, AWSPREVIOUS.

    Read in the background, started by `prefetch()` (which install() calls) or by the first use;
    until a first read succeeds, minting and checking fail at once with `keys_unavailable` (no
    caller waits on Secrets Manager, the agent's event loop above all) while the read is tried
    again in the background, with backoff (`retry_backoff`: first and longest wait, seconds),
    until it succeeds or `close()`. `wait(timeout)` waits for it. Read again once `max_age` seconds
    have passed, like the service's own key cache: for minting in the background, the keys held
    serving meanwhile, so minting never waits on Secrets Manager; for a check at once, so no key
    retired since is accepted (a failed read keeps the keys held). Read at once (at most every
    `refresh_interval` seconds) when no key matches a token's signature, so a rotation finished
    since the last read is noticed as the service notices it: that check waits for the read. If
    a re-read fails the keys already held keep serving. As in the service, AWSPREVIOUS checks
    tokens only until AWSCURRENT's CreatedDate + `max_token_lifetime_secs` + `max_age`, and a
    value that is not a key is refused (`misconfigured`) when it is about to be used. Reads
    through `client`, a Secrets Manager client of your own, else a botocore one made on first use
    (botocore is already a dependency, so no boto3 is needed), which honours AWS_ENDPOINT_URL and
    the usual credential chain.
    """

    def __init__(
        self,
        secret_arn: str,
        max_age: float = key_rules.KEY_CACHE_SECS,
        region: str | None = None,
        refresh_interval: float = key_rules.REFRESH_INTERVAL_SECS,
        *,
        max_token_lifetime_secs: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        retry_backoff: tuple[float, float] = (0.5, 30.0),
        client: Any = None,
    ) -> None:
        self.secret_arn = secret_arn
        self.retry_backoff = retry_backoff
        self.max_age = max_age
        self.refresh_interval = refresh_interval
        self.max_token_lifetime_secs = max_token_lifetime_secs
        self._forced_at = float("-inf")
        self._region = region or _region_of_arn(secret_arn)
        self._client: Any = client
        self._held: _Held | None = None
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._starting = threading.Lock()
        self._first = threading.Event()  # set once keys are held
        self._closed = threading.Event()  # no more background reads
        self._last_error = "not read yet"

    def current(self) -> bytes:
        """The key tokens are minted with; `misconfigured` when the secret holds no key."""
        return _checked(self._fresh(wait=False).current, key_rules.CURRENT)

    def candidates(self, now: float) -> Iterator[bytes]:
        """Keys a token may be signed with at `now`, most likely first, each checked only when it
        is needed; then, when none matched and a re-read found new ones, those.

        Unlike minting, a check waits for the re-read once `max_age` has passed: keys held longer
        (an agent idle for days) could hold one that two rotations have retired since.
        """
        held = self._fresh(wait=True)
        yielded: list[bytes] = []
        for key in self._keys_of(held, now):
            yielded.append(key)
            yield key
        self.refresh()
        fresh = self._fresh(wait=False)  # compared, not refresh()'s answer: another thread may have re-read
        if fresh != held:
            yield from (key for key in self._keys_of(fresh, now) if key not in yielded)

    def _keys_of(self, held: _Held, now: float) -> Iterator[bytes]:
        yield _checked(held.current, key_rules.CURRENT)
        retired = key_rules.retired_key_checks(held.rotated_at, now, self.max_token_lifetime_secs, self.max_age)
        if held.previous is not None and retired:
            yield _checked(held.previous, key_rules.PREVIOUS)

    def _fresh(self, *, wait: bool) -> _Held:
        """What was read. Nothing yet: `keys_unavailable` at once, the read going on in the
        background. Once `max_age` has passed, read again: now when `wait`, else in the background
        while what is held serves."""
        held = self._held
        if held is None:
            self._read_soon()
            raise service_error(
                ClientCode.KEYS_UNAVAILABLE,
                f"the signing secret is not read yet (reading it meanwhile): {self._last_error}",
            )
        if time.monotonic() - self._read_at <= self.max_age:
            return held
        if not wait:
            self._read_soon()
            return held
        with self._lock:
            if time.monotonic() - self._read_at > self.max_age:
                self._refresh()  # a failed re-read keeps what is held (and is tried again soon)
            held = self._held
        assert held is not None  # once held, keys are only ever replaced
        return held

    def prefetch(self) -> None:
        """Start reading the keys in the background, unless they are held already."""
        if self._held is None:
            self._read_soon()

    def wait(self, timeout: float) -> bool:
        """Wait until keys are held (starting their read if need be), at most `timeout` seconds;
        True when they are."""
        self.prefetch()
        return self._first.wait(timeout)

    def close(self) -> None:
        """Stop reading in the background (a first read still failing is given up)."""
        self._closed.set()

    def _read_soon(self) -> None:
        """Read in a background thread, unless one is under way."""
        if self._closed.is_set():
            return
        with self._starting:  # not the read's lock: a read under way must not make this wait
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(target=self._read_now, name="session-client-keys", daemon=True)
            try:
                self._background.start()
            except RuntimeError:  # interpreter shutdown: the keys held serve
                self._background = None

    def _read_now(self) -> None:
        """Read once; while no key was ever read, again after a growing pause until a read succeeds."""
        low, high = self.retry_backoff
        failures = 0
        while not self._closed.is_set():
            with self._lock:
                if self._held is not None and time.monotonic() - self._read_at <= self.max_age:
                    return  # read meanwhile
                try:
                    self._refresh()
                    return
                except SessionServiceError as exc:  # nothing read yet: keep trying, off every caller's thread
                    self._last_error = exc.message
                    failures += 1
            pause = random.uniform(0.5, 1.0) * min(high, low * 2 ** (failures - 1))
            log.warning(
                "could not read the signing secret (try %d); again in %.1f s: %s", failures, pause, self._last_error
            )
            self._closed.wait(pause)

    def refresh(self) -> bool:
        """Re-read now unless that was done within `refresh_interval`; True when the keys changed."""
        with self._lock:
            if time.monotonic() - self._forced_at < self.refresh_interval:
                return False
            self._forced_at = time.monotonic()
            before = self._held
            self._refresh()
            return self._held != before

    def _refresh(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            current, rotated_at = self._read(key_rules.CURRENT)
            try:
                previous: str | None = self._read(key_rules.PREVIOUS)[0]
            except self._secrets().exceptions.ResourceNotFoundException:
                previous = None  # never rotated: there is no AWSPREVIOUS
        except (BotoCoreError, ClientError) as exc:
            if self._held is None:  # nothing to fall back on: fail as every other client call fails
                raise service_error(ClientCode.KEYS_UNAVAILABLE, f"could not read the signing secret: {exc}") from exc
            log.warning("could not re-read the signing secret; keeping the keys already read", exc_info=True)
            self._read_at = time.monotonic() - self.max_age + self.refresh_interval  # try again soon, not per call
            return
        self._held = _Held(current, rotated_at, previous)
        self._read_at = time.monotonic()
        self._first.set()

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

    def _read(self, stage: str) -> tuple[str, float | None]:
        """The stage's text and when its version was created (epoch seconds)."""
        answer = self._secrets().get_secret_value(SecretId=self.secret_arn, VersionStage=stage)
        created = answer.get("CreatedDate")
        return str(answer.get("SecretString", "")), (created.timestamp() if created else None)


def _checked(text: str, stage: str) -> bytes:
    """The key, when the secret's text is one; else `misconfigured`: no verdict can be had with it."""
    if not limits.is_signing_key(text):
        log.error("the signing secret's %s value is not a signing key; it is never used", stage)
        raise service_error(
            ErrorCode.MISCONFIGURED,
            f"the signing secret's {stage} value is not {limits.SIGNING_KEY_RULE}: never used as a key",
        )
    return text.encode()


def _region_of_arn(arn: str) -> str | None:
    """arn:aws:secretsmanager:<region>:<account>:secret:<name> → <region> (None for a bare name)."""
    parts = arn.split(":")
    return (parts[3] or None) if len(parts) > 5 and parts[0] == "arn" else None
