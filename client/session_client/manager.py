"""RemoteSessionManager: the SDK's SessionManager interface, backed by the SWAIG session service."""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests
from session_rules import keys as key_rules
from session_rules import limits
from session_rules import tokens as token_format
from session_rules.codes import DEBUG_DISABLED_MESSAGE, INPUT_CODES, ErrorCode, Reason

from . import signing, writes
from .budget import RenderBudgets
from .errors import (
    ClientCode,
    InvalidInput,
    SessionEnded,
    SessionNotFound,
    SessionServiceError,
    refused_here,
    service_error,
)
from .keys import SecretKeys, StaticKeys
from .local import LocalCalls, LocalSigner
from .minted import MintedTokens
from .outbox import Job, Outbox, OutboxStats
from .tokens import TokenCheck, input_error
from .transport import (
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_BREAKER_COOLDOWN_SECS,
    DEFAULT_BREAKER_FAILURES,
    DEFAULT_DEADLINE_SECS,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Transport,
    body_of,
)

log = logging.getLogger("session_client")

# AgentBase's own default, which is what an agent had before its manager was replaced (the bare
# SDK SessionManager's is 900). install() carries over the agent's own.
DEFAULT_TOKEN_EXPIRY_SECS = 3600
DEFAULT_RENDER_BUDGET_SECS = 2.0
# With the key, a call's start asks the service to keep the session this much longer than the
# tokens minted so far need, so the tokens minted for the call in the next minute (the rest of a
# render, a render again) need no other start. Within MaxTokenLifetimeSecs.
START_MARGIN_SECS = 60
_UNSET: Any = object()


def _rendered_function_names(agent: Any) -> list[str]:
    """The names an AgentBase render mints tokens for, as the SDK's render picks them: its secure
    SWAIG functions (DataMap functions, kept as dicts, get none) and the post-prompt."""
    registry = getattr(getattr(agent, "_tool_registry", None), "_swaig_functions", None) or {}
    secure = [name for name, function in registry.items() if getattr(function, "secure", False)]
    if getattr(agent, "get_post_prompt", lambda: None)():
        secure.append("post_prompt")
    return [name for name in secure if limits.is_function_name(name)]


def _checks_in_a_worker_thread() -> bool:
    """Set by install() as the agent's `_swaig_configures_per_call`: the SDK then runs its SWAIG
    pre-dispatch (the token check) in a worker thread instead of on its event loop."""
    return True


class RemoteSessionManager:
    """A drop-in for `signalwire.core.security.session_manager.SessionManager` over HTTP.

    Same method names and argument orders as the SDK. An agent adopts the service with one
    line, `RemoteSessionManager(url, ...).install(agent)` (plain assignment to
    `agent._session_manager` works too, without install()'s extras).

    Two modes:

    * **with the key** (`secret_key`, or `secret_arn` to read it from Secrets Manager): nothing
      an agent does on its event loop waits on the network. create_session and the token
      methods work in-process: per call this manager picks an incarnation (8 random hex), mints
      tokens whose nonce begins with it, and queues the session's start (`POST /sessions` with
      the call id, incarnation, token_expiry_secs, `restart: false`) for a background sender
      (outbox.py). Metadata writes and end_session are queued behind it, in the call's order,
      and answer at once whether they were queued. get_session_metadata first waits for the
      call's queued writes (it reads what this manager wrote). validate_token checks the HMAC
      in-process; with `revocation_check=True` a token that passes is then checked by the
      service too (exact revocation), which install() moves off the event loop.
    * **without the key**: every method is a request. A call's setup costs one: the manager
      knows the agent's function names (install() reads them; else its create_tool_token calls
      teach them), and the first mint for a call it has not seen starts the session and mints
      all of them in one `POST /sessions` (so a call SignalWire names never meets a 404); create_session does the
      same and create_tool_token hands the tokens out. A render waits at most
      `render_budget_secs` in all (budget.py). validate_token asks the service, which install()
      moves off the event loop.

    Tokens live `token_expiry_secs` (default DEFAULT_TOKEN_EXPIRY_SECS, AgentBase's), sent with
    every mint; install() takes the agent's own unless it was given here.

    Differences from the SDK, on purpose:

    * sessions are real: an ended session stays ended, minting for it raises
      `SessionEnded` (`session_ended`) and `activate_session` answers False; an
      explicit create_session starts a fresh one.
    * metadata is stored (shared by every instance), `end_session` ends the session.
    * the bool methods answer False when the service refuses for the session's state
      (unknown, expired, ended) and raise `SessionServiceError` only when no verdict could be
      had (`ServiceUnavailable`, `AccessDenied`, ...); `validate_token` answers False for an invalid token and
      for inputs the service refuses with a 400 (as the SDK), and raises when no verdict could
      be had, so an outage is never mistaken for a forged token. A call id outside the
      service's rule is refused (`InvalidInput`, `invalid_call_id`) before any URL is built.
    * `debug_token` decodes locally and only with `debug_mode` (the SDK's `_debug_mode`) on;
      off, it answers as the SDK does, without a request.

    Signing: SigV4 (`execute-api`) when `sign` is True; by default (`sign=None`) unsigned for
    http://127.0.0.1 / localhost (the local stack), otherwise signed, and with no AWS
    credentials to sign with the client refuses to start (ValueError) rather than send
    unsigned requests. Region: `region`, else the one in an execute-api URL, else botocore's
    configured region. With `secret_arn` the keys are AWSCURRENT and AWSPREVIOUS, read in the
    background (until a first read succeeds, minting and checks raise `keys_unavailable` at once;
    `ready()` waits for it), re-read after
    `key_cache_secs` (in the background) or when a signature matches no key held; give
    `max_token_lifetime_secs` when the stack's MaxTokenLifetimeSecs is not the default. The
    service's key rules hold here too: only a key of the rotation's shape is used (a `secret_key`
    of any other shape is a ValueError at once), and AWSPREVIOUS checks tokens only while one
    minted with it can still be alive (session_rules.keys). `keys` gives the keys object itself
    instead (a `keys.SecretKeys` with its own Secrets Manager client, cache and backoff, or a
    `keys.StaticKeys`); `clock` is the wall clock tokens are minted and checked by.

    Bounds (transport.py): each call ends within `deadline_secs` (connect, reads, retries and
    waits together; `timeout` bounds each attempt within it), or by the render's budget, an
    answer over `max_answer_bytes` is refused, and after `breaker_failures` consecutive calls
    with no verdict, calls fail at once (`circuit_open`) for `breaker_cooldown_secs`.

    One pooled `requests.Session` serves all calls, from any thread (no per-call state: the
    service sets no cookies); `session` gives one of your own. `transport` gives the whole of it:
    a `transport.Transport` of your own (or one that wraps its `call`), whose own options then
    apply instead of `sign`, `credentials`, `timeout` and the bounds given here.
    """

    def __init__(
        self,
        base_url: str,
        *,
        region: str | None = None,
        sign: bool | None = None,
        credentials: Any = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        deadline_secs: float = DEFAULT_DEADLINE_SECS,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        breaker_failures: int = DEFAULT_BREAKER_FAILURES,
        breaker_cooldown_secs: float = DEFAULT_BREAKER_COOLDOWN_SECS,
        auto_create: bool = True,
        secret_key: str | None = None,
        secret_arn: str | None = None,
        key_cache_secs: float = key_rules.KEY_CACHE_SECS,
        max_token_lifetime_secs: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        token_expiry_secs: int | None = None,
        render_budget_secs: float = DEFAULT_RENDER_BUDGET_SECS,
        revocation_check: bool = False,
        outbox_capacity: int = 10_000,
        outbox_retry_secs: float = 120.0,
        debug_mode: bool = False,
        session: requests.Session | None = None,
        transport: Transport | None = None,
        keys: StaticKeys | SecretKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if sum(given is not None for given in (secret_key or None, secret_arn or None, keys)) > 1:
            raise ValueError("give one of secret_key, secret_arn and keys")
        if session is not None and transport is not None:
            raise ValueError("give session or transport, not both: a transport has its session")
        if revocation_check and not (secret_key or secret_arn or keys):
            raise ValueError(
                "revocation_check is for a manager holding the key: without it every check asks the service"
            )
        self.base_url = base_url.rstrip("/")
        self.auto_create = auto_create
        self.debug_mode = debug_mode
        self.max_token_lifetime_secs = max_token_lifetime_secs  # the stack's MaxTokenLifetimeSecs
        self._lifetime_given = token_expiry_secs is not None
        self.token_expiry_secs = DEFAULT_TOKEN_EXPIRY_SECS
        self._set_lifetime(
            min(DEFAULT_TOKEN_EXPIRY_SECS, max_token_lifetime_secs) if token_expiry_secs is None else token_expiry_secs
        )
        self.revocation_check = revocation_check
        self._minted = MintedTokens(wall=clock)
        # The installed agent's function names: without the key, a call's first mint asks for all.
        self._agent_functions: Callable[[], list[str]] = list
        self._budgets = RenderBudgets(render_budget_secs)
        self._keys: StaticKeys | SecretKeys | None = keys
        if secret_key:
            self._keys = StaticKeys(secret_key)
        elif secret_arn:
            self._keys = SecretKeys(
                secret_arn, key_cache_secs, region=region, max_token_lifetime_secs=max_token_lifetime_secs
            )
        self._signer = None if self._keys is None else LocalSigner(self._keys, max_token_lifetime_secs, wall=clock)
        self._calls = LocalCalls()
        self._unaccepted_lock = threading.Lock()
        self._unaccepted = 0  # starts refused as incarnation_limit
        if transport is None:
            transport = Transport(
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
        self._transport = transport
        self._outbox: Outbox | None = None
        if self._keys is not None:
            self._outbox = Outbox(
                self._send, capacity=outbox_capacity, retry_secs=outbox_retry_secs, send_timeout=self._wait_secs
            )

    def _set_lifetime(self, seconds: Any) -> None:
        if not limits.is_token_lifetime(seconds):
            raise ValueError(f"token_expiry_secs must be {limits.TOKEN_LIFETIME_RULE}, not {seconds!r}")
        if seconds > self.max_token_lifetime_secs:
            raise ValueError(
                f"token_expiry_secs {seconds} exceeds max_token_lifetime_secs {self.max_token_lifetime_secs}:"
                " the service would refuse such tokens (give the stack's MaxTokenLifetimeSecs)"
            )
        self.token_expiry_secs = seconds

    @property
    def signed(self) -> bool:
        """True when requests carry a SigV4 signature."""
        return self._transport.signed

    @property
    def validates_locally(self) -> bool:
        """True when tokens are minted and checked in-process (a secret or its ARN was given)."""
        return self._keys is not None

    @property
    def checks_may_wait(self) -> bool:
        """True when validate_token may wait on the network: it asks the service (no key, or
        `revocation_check`), or it may re-read the keys from Secrets Manager (`secret_arn`)."""
        return self._keys is None or self.revocation_check or isinstance(self._keys, SecretKeys)

    @property
    def _debug_mode(self) -> bool:
        """The SDK's name for `debug_mode` (its own tests and tools set it)."""
        return self.debug_mode

    @_debug_mode.setter
    def _debug_mode(self, value: bool) -> None:
        self.debug_mode = value

    @property
    def _start_margin(self) -> int:
        return min(START_MARGIN_SECS, self.max_token_lifetime_secs - self.token_expiry_secs)

    @property
    def _wait_secs(self) -> float:
        """The longest one call to the service may take: its deadline, retries included."""
        return self._transport.deadline_secs

    @property
    def outbox_stats(self) -> OutboxStats:
        """What the background sender did so far (with the key; all zero without it)."""
        return self._outbox.stats if self._outbox is not None else OutboxStats()

    def install(self, agent: Any) -> RemoteSessionManager:
        """Make this the agent's session manager: the one adoption line.

        Sets `agent._session_manager`; takes over the agent's token lifetime (its
        `token_expiry_secs`, AgentBase's 3600 by default) unless one was given here; reads the
        agent's function names, so that without the key even its first render is one request; starts
        reading the signing key from Secrets Manager (`secret_arn`) in the background; and when a
        token check may wait on the network (`checks_may_wait`), has the SDK run its SWAIG
        pre-dispatch in a worker thread, through its extension point `_swaig_configures_per_call`
        (set on this agent only), so no check ever stalls the agent's event loop. Returns self.
        """
        current = getattr(agent, "_session_manager", None)
        if not self._lifetime_given and current is not None and current is not self:
            lifetime = getattr(current, "token_expiry_secs", None)
            if lifetime is not None:
                self._set_lifetime(lifetime)
        agent._session_manager = self
        self._agent_functions = lambda: _rendered_function_names(agent)
        if isinstance(self._keys, SecretKeys):
            self._keys.prefetch()  # read in the background from now on: no render waits for it
        if self.checks_may_wait:
            agent._swaig_configures_per_call = _checks_in_a_worker_thread
        return self

    # -- the service's answers ----------------------------------------------------------

    def _send(self, job: Job, deadline: float) -> None:
        """The background sender's request: its body as encoded when it was queued."""
        self._transport.call(job.method, job.path, job.body, deadline=deadline)

    def _session_path(self, call_id: str, tail: str = "") -> str:
        """The route of one session: a call id outside the service's rule is refused before any URL
        is built (an empty one would address another route), as the service would refuse it."""
        if not limits.is_call_id(call_id):
            raise refused_here(ErrorCode.INVALID_CALL_ID, f"call_id must be {limits.CALL_ID_RULE}")
        return f"/sessions/{call_id}{tail}"  # the alphabet is one percent-encoding leaves unchanged

    @staticmethod
    def _field(answer: Mapping[str, Any], name: str, kind: type) -> Any:
        """A field of the service's answer, of the type the contract gives it; else no verdict was had."""
        value = answer.get(name)
        if not isinstance(value, kind):
            raise service_error(ClientCode.INVALID_RESPONSE, f"the answer's {name!r} is not a {kind.__name__}")
        return value

    def _unless_refused(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The answer, or None when the service's verdict is that the session is not there to act on
        (unknown, expired or ended): a bool method's False, not an error."""
        try:
            return self._transport.call(method, path, body)[1]
        except (SessionNotFound, SessionEnded):  # unknown or expired, or ended
            return None

    def _after_queued_writes(self, call_id: str, deadline: float) -> None:
        """Wait until the writes queued for the call were sent, so a read sees them; raise when they
        still are not by `deadline` (a `time.monotonic()` instant), the read's own."""
        if self._outbox is not None and not self._outbox.wait(call_id, deadline):
            raise service_error(ClientCode.WRITES_PENDING, f"the writes queued for {call_id} are not sent yet")

    # -- with the key: in-process, the service's part queued ----------------------------

    def _queue(self, call_id: str, job: Job) -> bool:
        assert self._outbox is not None
        return self._outbox.put(call_id, job)

    def _queue_start(
        self, call_id: str, incarnation: str, *, restart: bool, metadata: Mapping[str, Any] | None = None
    ) -> bool:
        """Queue the session's start with this manager's incarnation for the call; False (logged and
        counted by the sender) when the queue is full: the next mint for the call tries again."""
        body: dict[str, Any] = {
            "call_id": call_id,
            "incarnation": incarnation,
            "token_expiry_secs": self.token_expiry_secs + self._start_margin,
            "restart": restart,
        }
        if metadata:
            body["metadata"] = dict(metadata)
        refused = functools.partial(self._start_refused, call_id, incarnation)
        if self._queue(call_id, Job("POST", "/sessions", body_of(body), "start", refused)):
            return True
        self._calls.uncover(call_id, incarnation)
        return False

    def _start_refused(self, call_id: str, incarnation: str, exc: SessionServiceError) -> None:
        if isinstance(exc, SessionEnded):  # ended elsewhere: mint no more for it here, check none of its tokens
            self._calls.end(call_id, incarnation)
        elif (exc.status, exc.code) == (409, ErrorCode.INCARNATION_LIMIT) and self._calls.unaccept(
            call_id, incarnation
        ):
            # Minting through the service would block the agent's event loop on a request, so the
            # call's tokens are still minted here: a service with RevocationCheck refuses them.
            with self._unaccepted_lock:
                self._unaccepted += 1
            log.error(
                "session service: the session of %s already accepts the most incarnations it may; the tokens"
                " this manager mints for it are refused where RevocationCheck is on",
                call_id,
            )

    @property
    def unaccepted_calls(self) -> int:
        """How many calls' starts the service refused as `incarnation_limit` (each logged as an error):
        their tokens, minted here, are refused by a service with RevocationCheck on."""
        with self._unaccepted_lock:
            return self._unaccepted

    def _mint_here(self, call_id: str, names: list[str], *, restart: bool = False) -> dict[str, str]:
        """Tokens minted in-process, the session's start queued when it is not already."""
        assert self._signer is not None
        self._session_path(call_id)  # the call id's rule
        expiry = self._signer.expiry(self.token_expiry_secs)
        plan = self._calls.mint_plan(call_id, expiry, self._start_margin, restart=restart)
        if plan is None:
            raise refused_here(
                ErrorCode.SESSION_ENDED, "the session was ended; create it again to start a new one", 409
            )
        incarnation, start = plan
        try:  # minted first: a start is queued only for tokens that exist (no key held: keys_unavailable)
            tokens = {name: self._signer.mint(call_id, name, incarnation, expiry) for name in names}
        except SessionServiceError:
            if start:
                self._calls.uncover(call_id, incarnation)
            raise
        if start:
            self._queue_start(call_id, incarnation, restart=restart)
        return tokens

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, call_id: str | None = None, metadata: Mapping[str, Any] | None = None) -> str:
        """Start (or, for an active id, keep) a session; the id is generated like the SDK's when none is given.

        Generated here rather than by the service, so a retried request cannot start a second
        session. An ended session under the id is started afresh. With the key, each call picks a
        new incarnation (one the service accepts beside the others when the session is active),
        so a call ended elsewhere never revives with the ended one's tokens. Without the key, the same
        request mints tokens for the function names this manager has learned, which
        create_tool_token then hands out: an agent's call setup costs this one request. With the
        key, nothing is sent from here: the start is queued.
        """
        call_id = call_id or secrets.token_urlsafe(16)
        if self._signer is not None:
            self._session_path(call_id)
            extra = writes.checked(metadata) if metadata else None
            expiry = self._signer.expiry(self.token_expiry_secs)
            plan = self._calls.mint_plan(call_id, expiry, self._start_margin, restart=True)
            assert plan is not None  # a restart is never refused
            self._queue_start(call_id, plan[0], restart=True, metadata=extra)  # a new incarnation: always sent
            return call_id
        body: dict[str, Any] = {"call_id": call_id, "token_expiry_secs": self.token_expiry_secs}
        if metadata:
            body["metadata"] = dict(metadata)
        if names := self._minted.names():
            body["functions"] = names
        epoch = self._minted.epoch(call_id)
        deadline = self._budgets.deadline(call_id, begin=True)
        try:
            answer = self._transport.call("POST", "/sessions", body, deadline=deadline)[1]
        except SessionServiceError as exc:
            self._budgets.finished(call_id, exc)
            raise
        self._budgets.finished(call_id)
        self._minted.drop(call_id)  # perhaps started afresh: what was held belongs to an earlier session
        self._minted.mark_started(call_id)
        if "tokens" in answer:
            tokens = self._field(answer, "tokens", dict)
            self._minted.keep(call_id, tokens, self._field(answer, "tokens_expire_at", int), epoch)
        return str(self._field(answer, "call_id", str))

    def activate_session(self, call_id: str) -> bool:
        """Make sure the session is active: True when it is (started if it never was or has expired),
        False when it was ended (an ended call stays ended). With the key: its start is queued
        unless it already was; False when the call was ended as far as this manager knows."""
        if self._signer is not None:
            try:
                self._mint_here(call_id, [])
            except SessionEnded:
                return False
            return not self._calls.ended(call_id)
        self._session_path(call_id)  # the id's rule, before any request
        answer = self._unless_refused(
            "POST", "/sessions", {"call_id": call_id, "restart": False, "token_expiry_secs": self.token_expiry_secs}
        )
        self._minted.drop(call_id)  # perhaps started afresh over an expired session
        self._budgets.forget(call_id)
        if answer is None:
            return False
        self._minted.mark_started(call_id)
        return bool(self._field(answer, "call_id", str))

    def end_session(self, call_id: str) -> bool:
        """End the session: its metadata goes, minting stops; True when an active session was ended.

        With the key: this manager mints no more for the call at once, and the end is queued
        behind the call's earlier writes; True when it was queued.
        """
        path = self._session_path(call_id)
        if self._outbox is not None:
            self._calls.end(call_id)
            return self._queue(call_id, Job("DELETE", path, None, "end"))
        answer = self._unless_refused("DELETE", path)
        self._minted.forget(call_id)  # what is held, and what a mint under way answers
        self._budgets.forget(call_id)
        return answer is not None and bool(self._field(answer, "ended", bool))

    # -- tokens -----------------------------------------------------------------------

    def _start_and_mint(self, call_id: str, names: list[str], deadline: float | None) -> tuple[dict[str, Any], int]:
        """One request: start the session unless it is active (an ended one stays ended: 409) and
        mint `names`."""
        body = {"call_id": call_id, "functions": names, "restart": False, "token_expiry_secs": self.token_expiry_secs}
        answer = self._transport.call("POST", "/sessions", body, deadline=deadline)[1]
        self._minted.mark_started(call_id)
        return self._field(answer, "tokens", dict), self._field(answer, "tokens_expire_at", int)

    def _mint(self, call_id: str, names: list[str], deadline: float | None = None) -> tuple[dict[str, Any], int]:
        """Tokens for `names` of an active session, and their expiry, in one request.

        With auto_create, a call this manager has not started or minted for is started by the
        same request (SignalWire names its calls, so the SDK never calls create_session for
        them); one whose session has since expired is started again. An ended one stays ended (409).
        """
        path = self._session_path(call_id, "/tokens")
        if self.auto_create and not self._minted.started(call_id):
            return self._start_and_mint(call_id, names, deadline)
        try:
            answer = self._transport.call(
                "POST", path, {"functions": names, "token_expiry_secs": self.token_expiry_secs}, deadline
            )[1]
            return self._field(answer, "tokens", dict), self._field(answer, "expires_at", int)
        except SessionNotFound:
            if not self.auto_create:
                raise
        log.debug("the session of %s has expired: starting it again to mint", call_id)
        return self._start_and_mint(call_id, names, deadline)

    def generate_token(self, function_name: str, call_id: str) -> str:
        """A token for one function of one call.

        With the key: minted here. Without it: held from the call's create when it can be, else
        one request (within the render's budget) that also mints the learned functions not held
        for this call.
        """
        if not limits.is_function_name(function_name):
            raise refused_here(ErrorCode.INVALID_FUNCTION, f"function names are {limits.FUNCTION_NAME_RULE}")
        if self._signer is not None:
            return self._mint_here(call_id, [function_name])[function_name]
        self._minted.learn(function_name)
        held = self._minted.take(call_id, function_name)
        if held is not None:
            return held
        for name in self._agent_functions():  # tools defined since install() included
            self._minted.learn(name)
        self._session_path(call_id)  # the id's rule, before the render's budget is opened for it
        deadline = self._budgets.deadline(call_id)
        epoch = self._minted.epoch(call_id)
        try:
            tokens, expires_at = self._mint(call_id, self._minted.wanted(call_id, function_name), deadline)
            token = str(self._field(tokens, function_name, str))
        except SessionServiceError as exc:
            self._budgets.finished(call_id, exc)
            raise
        self._budgets.finished(call_id)
        self._minted.keep(call_id, tokens, expires_at, epoch)
        return token

    def create_tool_token(self, function_name: str, call_id: str) -> str:
        """Alias of generate_token, same argument order (as in the SDK)."""
        return self.generate_token(function_name, call_id)

    def create_tool_tokens(self, call_id: str, names: Iterable[str]) -> dict[str, str]:
        """Tokens for several functions of one call in one request (1-64 names): {name: token}."""
        names = list(names)
        if self._signer is not None:
            if not 1 <= len(names) <= limits.MAX_BATCH or not all(limits.is_function_name(n) for n in names):
                raise refused_here(
                    ErrorCode.INVALID_FUNCTION, f"1-{limits.MAX_BATCH} names of {limits.FUNCTION_NAME_RULE}", 400
                )
            return self._mint_here(call_id, list(dict.fromkeys(names)))
        tokens = self._mint(call_id, names)[0]
        return {str(name): str(token) for name, token in tokens.items()}

    def check_token(self, call_id: str, function_name: str, token: str) -> TokenCheck:
        """validate_token with the reason: a TokenCheck, the named tuple (valid, reason); in-process with
        the key.

        With `revocation_check`, a token that passes here is checked by the service too, after
        the call's queued writes were sent.
        """
        if code := input_error(call_id, function_name, token):
            return TokenCheck(False, code)  # what the service's 400 would say, without asking it
        if self._signer is not None:
            if self._calls.ended(call_id):  # as the service answers for an ended call, without asking it
                return TokenCheck(False, Reason.SESSION_ENDED)
            verdict = self._signer.check(call_id, function_name, token)
            if not (verdict.valid and self.revocation_check):
                return verdict
        deadline = time.monotonic() + self._wait_secs  # one for the queued writes and the check together
        self._after_queued_writes(call_id, deadline)
        body = {"call_id": call_id, "function": function_name, "token": token}
        try:
            answer = self._transport.call("POST", "/tokens/validate", body, deadline=deadline)[1]
        except InvalidInput as exc:
            if exc.code in INPUT_CODES:  # the service's verdict on an input (the SDK's False)
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

        Off unless `debug_mode` (the SDK's `_debug_mode`) is set, as in the SDK, whose agents call
        this on every refused token: a flood of junk tokens at an agent never becomes a flood of
        requests.
        """
        if not self.debug_mode:
            return {"error": DEBUG_DISABLED_MESSAGE}  # the SDK's own answer
        return token_format.debug(token, time.time())

    # -- metadata ---------------------------------------------------------------------

    def get_session_metadata(self, call_id: str) -> dict[str, Any]:
        """The session's metadata ({} when none). With the key, after the call's queued writes."""
        path = self._session_path(call_id, "/metadata")
        deadline = time.monotonic() + self._wait_secs  # one for the queued writes and the read together
        self._after_queued_writes(call_id, deadline)
        return dict(self._field(self._transport.call("GET", path, deadline=deadline)[1], "metadata", dict))

    def set_session_metadata(self, call_id: str, key: str | Mapping[str, Any], value: Any = _UNSET) -> bool:
        """Merge metadata: `(call_id, key, value)` as in the SDK, or `(call_id, {...})` as in the TS SDK.

        Creates the session when it does not exist and refreshes its expiry; False when it was
        ended. With the key: checked here and queued; True when queued, False when the call was
        ended as far as this manager knows or the queue is full.
        """
        if isinstance(key, Mapping) and value is _UNSET:
            merged = dict(key)
            body: dict[str, Any] = {"metadata": merged}
        elif isinstance(key, str) and value is not _UNSET:
            merged = {key: value}
            body = {"key": key, "value": value}
        else:
            raise TypeError("set_session_metadata(call_id, key, value) or set_session_metadata(call_id, {...})")
        path = self._session_path(call_id, "/metadata")
        if self._outbox is not None:
            snapshot = writes.checked(merged)  # checked, and sent as checked whatever the caller changes next
            body = {"key": key, "value": snapshot[key]} if isinstance(key, str) else {"metadata": snapshot}
            job = Job("PATCH", path, body_of(body), "metadata")
            return not self._calls.ended(call_id) and self._queue(call_id, job)
        answer = self._unless_refused("PATCH", path, body)
        return answer is not None and isinstance(self._field(answer, "metadata", dict), dict)

    def delete_session_metadata(self, call_id: str) -> bool:
        """Remove the session's metadata; True when there was some. With the key: True when queued."""
        path = self._session_path(call_id, "/metadata")
        if self._outbox is not None:
            return not self._calls.ended(call_id) and self._queue(call_id, Job("DELETE", path, None, "metadata"))
        answer = self._unless_refused("DELETE", path)
        return answer is not None and bool(self._field(answer, "deleted", bool))

    # -- lifecycle --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued write was sent (or given up), at most `timeout` seconds (default:
        one request's time); True when none is left."""
        if self._outbox is None:
            return True
        return self._outbox.wait(None, time.monotonic() + (self._wait_secs if timeout is None else timeout))

    def ready(self, timeout: float) -> bool:
        """Wait until the signing key is held, at most `timeout` seconds; True when it is (at once
        with `secret_key`; without a key: True, there is none to wait for). With `secret_arn`,
        minting and checking fail fast (`keys_unavailable`) until the key was read: an agent may
        wait here at start, before it serves calls."""
        return self._keys.wait(timeout) if isinstance(self._keys, SecretKeys) else True

    def close(self) -> None:
        """Send the queued writes (waiting at most one call's time), then release the connections."""
        if isinstance(self._keys, SecretKeys):
            self._keys.close()
        if self._outbox is not None:
            self._outbox.close(self._wait_secs)
        self._transport.close()

    def __enter__(self) -> RemoteSessionManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "key held: in-process" if self._keys is not None else "remote"
        return f"RemoteSessionManager({self.base_url!r}, signed={self.signed}, {mode})"
