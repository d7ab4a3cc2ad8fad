"""In-process validation gives the service's exact verdicts (and reasons), with no HTTP call.

Each case is asked twice: of the running local stack over HTTP, and of a client holding the
signing secret (given directly, or read by ARN from the stack's emulated Secrets Manager).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from session_client import RemoteSessionManager, SessionServiceError, TokenCheck
from signalwire.core.security.session_manager import SessionManager

from harness.ports import free_port
from harness.served import ServedStack, running_stack
from local.aws import random_key

CALL = "call-corpus"
DOTTED = "corpus.root.2"  # a call id with dots (tokens split from the right), used by no other module


def craft(key: str, call_id: str, function: str, expiry: str, nonce: str, *, pad: bool = True) -> str:
    """A token in the SDK's wire format with any fields (TS style when pad=False and a 32-hex nonce)."""
    signature = hmac.new(key.encode(), f"{call_id}:{function}:{expiry}:{nonce}".encode(), hashlib.sha256).hexdigest()
    raw = base64.urlsafe_b64encode(f"{call_id}.{function}.{expiry}.{nonce}.{signature}".encode()).decode()
    return raw if pad else raw.rstrip("=")


def noncanonical(token: str) -> str | None:
    """The same bytes with unused trailing bits set: lenient decoders accept it, the service does not."""
    body = token.rstrip("=")
    if len(body) % 4 == 0:
        return None
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(body[-1])
    return body[:-1] + alphabet[index | 1 if index % 2 == 0 else index & ~1] + token[len(body) :]


@pytest.fixture(scope="module")
def corpus(client: RemoteSessionManager, stack: ServedStack) -> list[tuple[str, str, str]]:
    key = stack.signing_key
    future, past = str(int(time.time()) + 3600), str(int(time.time()) - 120)
    minted = client.generate_token("get_weather", CALL)
    dotted = client.generate_token("get_weather", DOTTED)
    sdk = SessionManager(secret_key=key).generate_token("get_weather", CALL)
    ts_style = craft(key, CALL, "get_weather", future, secrets.token_hex(16), pad=False)
    cases = [
        (CALL, "get_weather", minted),
        (CALL, "get_weather", sdk),
        (CALL, "get_weather", minted.rstrip("=")),
        (CALL, "get_weather", ts_style),
        (CALL, "get_weather", ts_style + "=" * (-len(ts_style) % 4)),
        (DOTTED, "get_weather", dotted),
        ("corpus.root", "get_weather", dotted),
        ("root.2", "get_weather", dotted),
        (CALL, "get_time", minted),
        ("call-other", "get_weather", minted),
        (
            CALL,
            "get_weather",
            SessionManager(token_expiry_secs=-120, secret_key=key).generate_token("get_weather", CALL),
        ),
        (CALL, "get_weather", craft(key, CALL, "get_weather", past, "00ff00ff00ff00ff")),
        (CALL, "get_weather", SessionManager(secret_key="another-key").generate_token("get_weather", CALL)),
        (CALL, "get_weather", craft(key, CALL, "get_weather", "12a4", "00ff00ff00ff00ff")),
        (CALL, "get_weather", craft(key, CALL, "get_weather", "-5", "00ff00ff00ff00ff")),
        (CALL, "get_weather", craft(key, CALL, "get_weather", "١٢٣٤٥٦٧٨٩٠", "00ff00ff00ff00ff")),  # non-ASCII digits
        ("ünï", "get_weather", craft(key, "ünï", "get_weather", future, "ab")),
        (CALL, "get_weather", minted + "="),
        (CALL, "get_weather", minted.rstrip("=") + "="),
        (CALL, "get_weather", minted.replace("-", "+").replace("_", "/")),
        (CALL, "get_weather", base64.urlsafe_b64encode(b"a.b.c.d").decode()),
        (CALL, "get_weather", base64.urlsafe_b64encode(b"\xff\xfe.a.b.c.d").decode()),
        (CALL, "get_weather", "!!!!"),
        (CALL, "get_weather", "===="),
        ("", "get_weather", minted),
        ("has space", "get_weather", minted),
        ("x" * 129, "get_weather", minted),
        ("nul\x00", "get_weather", minted),
        (CALL, "get.weather", minted),
        (CALL, "", minted),
        (CALL, "f" * 65, minted),
        (CALL, "get_weather", ""),
        (CALL, "get_weather", "A" * 1025),
        # Lone surrogates: not Unicode, so the service refuses the JSON body before reading a field.
        ("call-\ud800", "get_weather", minted),
        (CALL, "get_\udfff", minted),
        (CALL, "get_weather", minted[:8] + "\ud83d" + minted[8:]),
    ]
    for position in (0, len(minted) // 2, len(minted.rstrip("=")) - 1):  # one character changed
        changed = minted[:position] + ("B" if minted[position] != "B" else "C") + minted[position + 1 :]
        cases.append((CALL, "get_weather", changed))
    for token in (minted, ts_style):
        if (odd := noncanonical(token)) is not None:
            cases.append((CALL, "get_weather", odd))
    return cases


@pytest.fixture(scope="module", params=["secret_key", "secret_arn"])
def local(request: pytest.FixtureRequest, stack: ServedStack) -> Iterator[RemoteSessionManager]:
    if request.param == "secret_key":
        # An address nothing listens on: any HTTP call would fail, so a verdict proves none was made.
        with RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_key=stack.signing_key) as held:
            yield held
    else:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint)
            with RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_arn=stack.secret_arn) as held:
                assert held.ready(60)  # reads the secret while the endpoint is set
                yield held


def test_every_verdict_matches_the_service(
    client: RemoteSessionManager, local: RemoteSessionManager, corpus: list[tuple[str, str, str]]
) -> None:
    assert local.validates_locally and not client.validates_locally
    reasons = set()
    for call_id, function, token in corpus:
        remote = client.check_token(call_id, function, token)
        assert local.check_token(call_id, function, token) == remote, (call_id, function, token)
        assert local.validate_token(call_id, function, token) is remote.valid
        reasons.add(remote.reason)
    # The corpus reaches every answer the service can give without the revocation check.
    assert reasons == {
        None,
        "malformed",
        "function_mismatch",
        "expired",
        "bad_signature",
        "call_id_mismatch",
        "invalid_call_id",
        "invalid_function",
        "invalid_token",
        "invalid_json",
    }


def test_the_sdk_and_the_local_check_agree_on_sdk_tokens(local: RemoteSessionManager, stack: ServedStack) -> None:
    sdk = SessionManager(secret_key=stack.signing_key)
    token = sdk.generate_token("lookup", CALL)
    assert local.validate_tool_token("lookup", token, CALL) and sdk.validate_tool_token("lookup", token, CALL)
    assert not local.validate_tool_token("lookup", token, "call-other")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. é"


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """A token with a few characters replaced, inserted or deleted, or cut short."""
    token = base
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, max(len(token) - 1, 0)))
        operation = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        char = draw(st.sampled_from(_ALPHABET))
        if operation == "replace":
            token = token[:position] + char + token[position + 1 :]
        elif operation == "insert":
            token = token[:position] + char + token[position:]
        elif operation == "delete":
            token = token[:position] + token[position + 1 :]
        else:
            token = token[:position]
    return token


@pytest.fixture(scope="module")
def base_tokens(client: RemoteSessionManager) -> list[str]:
    token = client.generate_token("get_weather", CALL)
    return [token, token.rstrip("="), client.generate_token("get_weather", DOTTED)]


def test_mutated_tokens_get_the_services_verdict(
    client: RemoteSessionManager, stack: ServedStack, base_tokens: list[str]
) -> None:
    held = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_key=stack.signing_key)

    @given(
        base=st.sampled_from(base_tokens).flatmap(mutated),
        call_id=st.sampled_from([CALL, DOTTED, "corpus.root"]),
        function=st.sampled_from(["get_weather", "get_time"]),
    )
    def check(base: str, call_id: str, function: str) -> None:
        assert held.check_token(call_id, function, base) == client.check_token(call_id, function, base)

    check()


# -- rotation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rotating_stack() -> Iterator[ServedStack]:
    """A stack of its own: rotating its secret must not disturb the shared one."""
    with running_stack() as running:
        yield running


def test_arn_mode_follows_a_rotation_like_the_service(
    rotating_stack: ServedStack, connect: Callable[..., RemoteSessionManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", rotating_stack.aws_endpoint)
    remote = connect(rotating_stack.base_url)
    held = connect(rotating_stack.base_url, secret_arn=rotating_stack.secret_arn, key_cache_secs=3600)
    assert held.ready(60)
    before = remote.generate_token("get_weather", CALL)
    assert held.check_token(CALL, "get_weather", before) == (True, None)  # keys read and cached here

    new_key = random_key()
    rotating_stack.client("secretsmanager").put_secret_value(SecretId=rotating_stack.secret_arn, SecretString=new_key)
    after = SessionManager(secret_key=new_key).generate_token("get_weather", CALL)
    stranger = SessionManager(secret_key="never-a-key").generate_token("get_weather", CALL)

    for token, expected in (
        (before, TokenCheck(True)),
        (after, TokenCheck(True)),
        (stranger, (False, "bad_signature")),
    ):
        assert remote.check_token(CALL, "get_weather", token) == expected
        assert held.check_token(CALL, "get_weather", token) == expected


def test_an_unreadable_secret_is_a_session_service_error(stack: ServedStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no key read yet there is nothing to fall back on: the client's own error, not botocore's.
    As in the service, only a token whose signature must be checked needs the key."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint)
    missing = stack.secret_arn.replace("signing-key", "no-such-key")
    held = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_arn=missing)
    well_formed = SessionManager(secret_key=stack.signing_key).generate_token("get_weather", CALL)
    with held:
        assert held.check_token(CALL, "get_weather", "dG9rZW4=") == (False, "malformed")  # no key needed
        with pytest.raises(SessionServiceError) as error:
            held.validate_token(CALL, "get_weather", well_formed)
    assert error.value.code == "keys_unavailable"
