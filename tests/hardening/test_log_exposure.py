"""No log line gives away a token, a signature or the signing key.

A full flow runs against the stack that logs the most (debug on, revocation on, log level
DEBUG): create, single and batch mints, every validate outcome, debug, metadata, end.
Then the stack's whole log (front and every handler) is searched for each token (padded
and unpadded), each signature's hex and the key.
"""

from __future__ import annotations

import base64

import requests
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack
from tests.support.plain_http import TIMEOUT, end, mint, start, verdict


def signature(token: str) -> str:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    return raw.rsplit(".", 4)[4]


def full_flow(http: requests.Session, stack: ServedStack) -> list[str]:
    """Every route and outcome once; the tokens it handled."""
    base = stack.base_url
    call_id = start(http, stack, customer="Ada", tier=2)
    tokens = [*mint(http, stack, call_id, "lookup", "transfer", "get_weather").values()]
    tokens.append(mint(http, stack, call_id, "lookup")["lookup"])
    for token in tokens:
        verdict(http, stack, call_id, "lookup", token)  # valid, or function_mismatch
        verdict(http, stack, "another-call", "lookup", token)
        assert http.post(f"{base}/tokens/debug", json={"token": token}, timeout=TIMEOUT).status_code == 200
    forged = SessionManager(secret_key="not the key").generate_token("lookup", call_id)
    expired = SessionManager(secret_key=stack.signing_key, token_expiry_secs=-5).generate_token("lookup", call_id)
    unpadded = tokens[0].rstrip("=")
    for token in (forged, expired, unpadded, tokens[0][:-4], "not-a-token"):
        verdict(http, stack, call_id, "lookup", token)
    tokens += [forged, expired]
    http.get(f"{base}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    http.patch(f"{base}/sessions/{call_id}/metadata", json={"key": "k", "value": tokens[0]}, timeout=TIMEOUT)
    http.delete(f"{base}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    assert end(http, stack, call_id) is True
    assert verdict(http, stack, call_id, "lookup", tokens[0]) == {"valid": False, "reason": "session_ended"}
    http.post(f"{base}/sessions/{call_id}/tokens", json={"function": "lookup"}, timeout=TIMEOUT)
    return tokens


def test_no_log_line_holds_a_token_a_signature_or_the_key(http: requests.Session, loud_stack: ServedStack) -> None:
    tokens = full_flow(http, loud_stack)
    log = loud_stack.log()
    assert "token rejected" in log and '"reason":"bad_signature"' in log  # the handlers' own lines are in it
    assert loud_stack.signing_key not in log
    for token in tokens:
        assert token not in log and token.rstrip("=") not in log
        assert signature(token) not in log
