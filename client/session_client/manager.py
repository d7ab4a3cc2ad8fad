"""RemoteSessionManager: the SDK's SessionManager interface, backed by the SWAIG session service."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from session_rules import limits
from session_rules import tokens as token_format

from . import signing, transport
from .errors import SessionServiceError
from .keys import SecretKeys, StaticKeys
from .minted import MintedTokens
from .tokens import INPUT_CODES, TokenCheck, input_error

log = logging.getLogger("session_client")

DEBUG_DISABLED = {"error": "debug mode not enabled"}  # what the SDK's debug_token answers when off
_UNSET: Any = object()
# The service's verdicts that a session is not there to act on: unknown or expired, ended.
_STATE_REFUSALS = frozenset({(404, "session_not_found"), (409, "session_ended")})


class RemoteSessionManager:
    """A drop-in for `signalwire.core.security.session_manager.SessionManager` over HTTP.

    Same method names and argument orders as the SDK, so an agent adopts the
    service with one line: `agent._session_manager = RemoteSessionManager(url)`.

    Differences from the SDK, on purpose:

    * sessions are real: a token is minted only for an active session. When
      the service answers 404 `session_not_found`, generate_token starts the
      session and mints in one more request (`auto_create=False` turns this
      off). An ended session stays ended: minting for it raises
      `SessionServiceError` (`session_ended`), and `activate_session` answers False.
    * a call setup costs one request: the manager learns the agent's function
      names from its create_tool_token calls, and from then on create_session
      mints their tokens in the same request and create_tool_token hands them out.
    * metadata is stored (shared by every instance), `end_session` ends the
      session and returns the service's `ended`.
    * the bool methods answer False when the service refuses for the session's
      state (unknown, expired, ended) and raise `SessionServiceError` only when
      no verdict could be had (unreachable, 5xx, denied); `validate_token` answers
      False for an invalid token and for inputs the service refuses with a 400
      (as the SDK), and raises when the service cannot give a verdict, so an
      outage is never mistaken for a forged token. A call id outside the
      service's rule is refused (`invalid_call_id`) before any URL is built.
    * `debug_token` decodes locally and only with `debug_mode=True` (the SDK's
      `_debug_mode`); off, it answers as the SDK does, without a request.

    Signing: SigV4 (`execute-api`) when `sign` is True; by default (`sign=None`)
    unsigned for http://127.0.0.1 / localhost (the local stack), otherwise
    signed, and with no AWS credentials to sign with the client refuses to
    start (ValueError) rather than send unsigned requests. Region: `region`,
    else the one in an execute-api URL, else botocore's configured region.

    Bounds (transport.py): each call ends within `deadline_secs` (connect,
    reads, retries and waits together; `timeout` bounds each attempt within
    it), an answer over `max_answer_bytes` is refused, and after
    `breaker_failures` consecutive calls with no verdict, calls fail at once
    (`circuit_open`) for `breaker_cooldown_secs`.

    Local validation: with `secret_key` (the signing secret's value) or
    `secret_arn` (read from Secrets Manager, AWSCURRENT and AWSPREVIOUS,
    re-read after `key_cache_secs` or when a signature matches no key held),
    `validate_token` checks the HMAC
    in-process with no HTTP call, with the service's exact verdicts (give
    `max_token_lifetime_secs` when the stack's MaxTokenLifetimeSecs is not the
    default). It cannot see ended sessions, so with the stack's RevocationCheck
    on, leave both unset to keep revocation.

    One pooled `requests.Session` serves all calls, from any thread (no per-call state: the
    service sets no cookies).
    """

    def __init__(
        self,
        base_url: str,
        *,
        region: str | None = None,
        sign: bool | None = None,
        credentials: Any = None,
        timeout: float | tuple[float, float] = transport.DEFAULT_TIMEOUT,
        deadline_secs: float = transport.DEFAULT_DEADLINE_SECS,
        retries: int = 2,
        backoff_factor: float = 0.2,
        max_answer_bytes: int = transport.DEFAULT_MAX_ANSWER_BYTES,
        breaker_failures: int = transport.DEFAULT_BREAKER_FAILURES,
        breaker_cooldown_secs: float = transport.DEFAULT_BREAKER_COOLDOWN_SECS,
        auto_create: bool = True,
        secret_key: str | None = None,
        secret_arn: str | None = None,
        key_cache_secs: float = 300.0,
        max_token_lifetime_secs: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        debug_mode: bool = False,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if secret_key and secret_arn:
            raise ValueError("give secret_key or secret_arn, not both")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.auto_create = auto_create
        self.debug_mode = debug_mode
        self.max_token_lifetime_secs = max_token_lifetime_secs  # the stack's MaxTokenLifetimeSecs
        self._minted = MintedTokens()
        self._keys: StaticKeys | SecretKeys | None = None
        if secret_key:
            self._keys = StaticKeys(secret_key)
        elif secret_arn:
            self._keys = SecretKeys(secret_arn, key_cache_secs, region=region)
        self._transport = transport.Transport(
            self.base_url,
            session=session,
            auth=signing.auth_for(self.base_url, sign=sign, credentials=credentials, region=region),
            timeout=timeout,
            deadline_secs=deadline_secs,
            retries=retries,
            backoff_factor=backoff_factor,
            max_answer_bytes=max_answer_bytes,
            breaker_failures=breaker_failures,
            breaker_cooldown_secs=breaker_cooldown_secs,
        )
        self._http = self._transport.session

    @property
    def signed(self) -> bool:
        """True when requests carry a SigV4 signature."""
        return self._http.auth is not None

    @property
    def validates_locally(self) -> bool:
        """True when validate_token checks tokens in-process (a secret or its ARN was given)."""
        return self._keys is not None

    # -- HTTP -------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, deadline: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One call to the service (transport.py): the status and JSON object of a 2xx answer, else
        SessionServiceError. `deadline`, a `time.monotonic()` instant, ends it, retries included."""
        return self._transport.call(method, path, body, deadline)

    def _session_path(self, call_id: str, tail: str = "") -> str:
        """The route of one session: a call id outside the service's rule is refused before any URL
        is built (an empty one would address another route), as the service would refuse it."""
        if not limits.is_call_id(call_id):
            raise SessionServiceError("invalid_call_id", f"call_id must be {limits.CALL_ID_RULE}", 400)
        return f"/sessions/{call_id}{tail}"  # the alphabet is one percent-encoding leaves unchanged

    @staticmethod
    def _field(answer: Mapping[str, Any], name: str, kind: type) -> Any:
        """A field of the service's answer, of the type the contract gives it; else no verdict was had."""
        value = answer.get(name)
        if not isinstance(value, kind):
            raise SessionServiceError("invalid_response", f"the answer's {name!r} is not a {kind.__name__}")
        return value

    def _unless_refused(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The answer, or None when the service's verdict is that the session is not there to act on
        (unknown, expired or ended): a bool method's False, not an error."""
        try:
            return self._call(method, path, body)[1]
        except SessionServiceError as exc:
            if (exc.status, exc.code) in _STATE_REFUSALS:
                return None
            raise

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, call_id: str | None = None, metadata: Mapping[str, Any] | None = None) -> str:
        """Start (or, for an active id, keep) a session; the id is generated like the SDK's when none is given.

        Generated here rather than by the service, so a retried request cannot start a second session.
        The same request mints tokens for the function names this manager has learned, which
        create_tool_token then hands out: an agent's call setup costs this one request.
        """
        call_id = call_id or secrets.token_urlsafe(16)
        body: dict[str, Any] = {"call_id": call_id}
        if metadata:
            body["metadata"] = dict(metadata)
        if names := self._minted.names():
            body["functions"] = names
        epoch = self._minted.epoch(call_id)
        answer = self._call("POST", "/sessions", body)[1]
        self._minted.drop(call_id)  # perhaps started afresh: what was held belongs to an earlier session
        if "tokens" in answer:
            tokens = self._field(answer, "tokens", dict)
            self._minted.keep(call_id, tokens, self._field(answer, "tokens_expire_at", int), epoch)
        return str(self._field(answer, "call_id", str))

    def activate_session(self, call_id: str) -> bool:
        """Make sure the session is active: True when it is (started if it never was or has expired),
        False when it was ended (an ended call stays ended)."""
        self._session_path(call_id)  # the id's rule, before any request
        answer = self._unless_refused("POST", "/sessions", {"call_id": call_id, "restart": False})
        self._minted.drop(call_id)  # perhaps started afresh over an expired session
        return answer is not None and bool(self._field(answer, "call_id", str))

    def end_session(self, call_id: str) -> bool:
        """End the session: its metadata goes, minting stops; True when an active session was ended."""
        answer = self._unless_refused("DELETE", self._session_path(call_id))
        self._minted.forget(call_id)  # what is held, and what a mint under way answers
        return answer is not None and bool(self._field(answer, "ended", bool))

    # -- tokens -----------------------------------------------------------------------

    def _mint(self, call_id: str, names: list[str]) -> tuple[dict[str, Any], int]:
        """Tokens for `names` of an active session, and their expiry. With auto_create, a call id that
        never had a session, or whose session expired, gets one; an ended one stays ended (409)."""
        path = self._session_path(call_id, "/tokens")
        try:
            answer = self._call("POST", path, {"functions": names})[1]
            return self._field(answer, "tokens", dict), self._field(answer, "expires_at", int)
        except SessionServiceError as exc:
            if not (self.auto_create and (exc.status, exc.code) == (404, "session_not_found")):
                raise
        log.debug("no session %s: starting it to mint", call_id)
        answer = self._call("POST", "/sessions", {"call_id": call_id, "functions": names, "restart": False})[1]
        return self._field(answer, "tokens", dict), self._field(answer, "tokens_expire_at", int)

    def generate_token(self, function_name: str, call_id: str) -> str:
        """A token for one function of one call: held from the call's create when it can be, else one
        request that also mints the learned functions not held for this call."""
        if not limits.is_function_name(function_name):
            raise SessionServiceError("invalid_function", f"function names are {limits.FUNCTION_NAME_RULE}", 400)
        self._minted.learn(function_name)
        held = self._minted.take(call_id, function_name)
        if held is not None:
            return held
        epoch = self._minted.epoch(call_id)
        tokens, expires_at = self._mint(call_id, self._minted.wanted(call_id, function_name))
        self._minted.keep(call_id, tokens, expires_at, epoch)
        return str(self._field(tokens, function_name, str))

    def create_tool_token(self, function_name: str, call_id: str) -> str:
        """Alias of generate_token, same argument order (as in the SDK)."""
        return self.generate_token(function_name, call_id)

    def create_tool_tokens(self, call_id: str, names: Iterable[str]) -> dict[str, str]:
        """Tokens for several functions of one call in one request (1-64 names): {name: token}."""
        tokens = self._mint(call_id, list(names))[0]
        return {str(name): str(token) for name, token in tokens.items()}

    def check_token(self, call_id: str, function_name: str, token: str) -> TokenCheck:
        """validate_token with the reason: (valid, reason), locally when a secret was given."""
        if code := input_error(call_id, function_name, token):
            return TokenCheck(False, code)  # what the service's 400 would say, without asking it
        if self._keys is not None:
            held = self._keys.keys()
            verdict = token_format.verify(
                held, call_id, function_name, token, time.time(), self.max_token_lifetime_secs
            )
            if verdict.reason == "bad_signature":  # perhaps rotated since the keys were read
                self._keys.refresh()
                fresh = self._keys.keys()  # compared, not refresh()'s answer: another thread may have re-read
                if fresh != held:
                    verdict = token_format.verify(
                        fresh, call_id, function_name, token, time.time(), self.max_token_lifetime_secs
                    )
            return verdict
        body = {"call_id": call_id, "function": function_name, "token": token}
        try:
            answer = self._call("POST", "/tokens/validate", body)[1]
        except SessionServiceError as exc:
            if exc.status == 400 and exc.code in INPUT_CODES:  # the service's verdict on an input (the SDK's False)
                return TokenCheck(False, exc.code)
            raise
        valid = self._field(answer, "valid", bool)
        return TokenCheck(valid, None if valid else self._field(answer, "reason", str))

    validate_token_reason = check_token

    def validate_token(self, call_id: str, function_name: str, token: str) -> bool:
        """True when `token` was minted for this function of this call and has not expired."""
        return self.check_token(call_id, function_name, token).valid

    def validate_tool_token(self, function_name: str, token: str, call_id: str) -> bool:
        """validate_token with the SDK's other argument order."""
        return self.validate_token(call_id, function_name, token)

    def debug_token(self, token: str) -> dict[str, Any]:
        """The SDK's debug view of a token, decoded here (it is only a parse): never a request.

        Off unless `debug_mode` is set, as in the SDK, whose agents call this on every refused
        token: a flood of junk tokens at an agent never becomes a flood of requests.
        """
        if not self.debug_mode:
            return dict(DEBUG_DISABLED)
        return token_format.debug(token, time.time())

    # -- metadata ---------------------------------------------------------------------

    def get_session_metadata(self, call_id: str) -> dict[str, Any]:
        """The session's metadata ({} when none)."""
        return dict(self._field(self._call("GET", self._session_path(call_id, "/metadata"))[1], "metadata", dict))

    def set_session_metadata(self, call_id: str, key: str | Mapping[str, Any], value: Any = _UNSET) -> bool:
        """Merge metadata: `(call_id, key, value)` as in the SDK, or `(call_id, {...})` as in the TS SDK.

        Creates the session when it does not exist and refreshes its expiry; False when it was ended.
        """
        if isinstance(key, Mapping) and value is _UNSET:
            body: dict[str, Any] = {"metadata": dict(key)}
        elif isinstance(key, str) and value is not _UNSET:
            body = {"key": key, "value": value}
        else:
            raise TypeError("set_session_metadata(call_id, key, value) or set_session_metadata(call_id, {...})")
        answer = self._unless_refused("PATCH", self._session_path(call_id, "/metadata"), body)
        return answer is not None and isinstance(self._field(answer, "metadata", dict), dict)

    def delete_session_metadata(self, call_id: str) -> bool:
        """Remove the session's metadata; True when there was some."""
        answer = self._unless_refused("DELETE", self._session_path(call_id, "/metadata"))
        return answer is not None and bool(self._field(answer, "deleted", bool))

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RemoteSessionManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "local validation" if self._keys is not None else "remote validation"
        return f"RemoteSessionManager({self.base_url!r}, signed={self.signed}, {mode})"
