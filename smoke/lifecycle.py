"""One session's whole lifecycle against a deployment, each answer checked exactly.

    python -m smoke https://<api-id>.execute-api.<region>.amazonaws.com/<stage>
    python -m smoke http://127.0.0.1:3000          # the local stack (make serve)
    python -m smoke http://127.0.0.1:3000 --sign --region us-east-1   # AUTH=iam make serve

An AWS URL is signed (SigV4, service execute-api) with the caller's credentials, found as the
AWS CLI finds them (environment, AWS_PROFILE, SSO, instance role); the local stack is not,
unless --sign asks for it (AUTH=iam checks signatures made with testing / testing).
Prints one line per step that answered as expected; on the first that did not, prints what
was expected and what came, and exits 1. The session is fresh (a new call id) and ended by
the run, so the smoke can run against a stack in use.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
from collections.abc import Callable
from typing import Any

import requests
from session_client.signing import auth_for, is_local

TIMEOUT_SECS = 30.0  # a cold start with the layer is a few seconds; a hung call should not wait forever
FUNCTIONS = ["a", "b"]
METADATA = {"smoke": True, "step": "greeting", "attempts": 1}
# What minting for an ended session answers: (status, error code).
MINT_AFTER_END = (409, "session_ended")


class WrongAnswer(Exception):
    """A step's answer was not the expected one."""


class Lifecycle:
    def __init__(self, base_url: str, http: requests.Session, out: Callable[[str], None] = print) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.out = out

    def call(self, step: str, method: str, path: str, status: int, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer, once its status is `status`."""
        try:
            response = self.http.request(method, self.base_url + path, json=body, timeout=TIMEOUT_SECS)
        except requests.RequestException as exc:
            raise WrongAnswer(f"{step}: {method} {path} failed: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = response.text[:300]
        if response.status_code != status:
            raise WrongAnswer(f"{step}: {method} {path} expected {status}, got {response.status_code} {answer!r}")
        if isinstance(answer, str):
            raise WrongAnswer(f"{step}: {method} {path} answered {status} with a body that is not JSON: {answer!r}")
        return answer

    def expect(self, step: str, got: Any, expected: Any) -> None:
        if got != expected:
            raise WrongAnswer(f"{step}: expected {expected!r}, got {got!r}")

    def ok(self, step: str, detail: str) -> None:
        self.out(f"ok  {step:<18} {detail}")

    def run(self) -> str:
        """Every step in order; the revocation mode the deployment answered with ("on" or "off")."""
        call_id = "smoke-" + secrets.token_urlsafe(12)  # [A-Za-z0-9_-], fresh for every run
        sessions = f"/sessions/{call_id}"

        created = self.call("create", "POST", "/sessions", 201, {"call_id": call_id})
        self.expect("create", sorted(created), ["call_id", "expires_at"])
        self.expect("create", (created["call_id"], type(created["expires_at"])), (call_id, int))
        self.ok("create", f"201 call_id={call_id}")

        minted = self.call("mint", "POST", f"{sessions}/tokens", 201, {"functions": FUNCTIONS})
        self.expect("mint", sorted(minted), ["call_id", "expires_at", "tokens"])
        self.expect("mint", minted["call_id"], call_id)
        tokens = minted["tokens"]
        self.expect("mint", sorted(tokens) if isinstance(tokens, dict) else tokens, FUNCTIONS)
        self.expect("mint", all(isinstance(t, str) and t for t in tokens.values()), True)
        self.ok("mint", f"201 tokens for {', '.join(FUNCTIONS)}")

        good = tokens["a"]
        validate = self.validator(call_id)
        self.expect("validate good", validate("validate good", "a", good), {"valid": True})
        self.ok("validate good", '200 {"valid": true}')
        verdict = validate("validate tampered", "a", tampered(good))
        self.expect("validate tampered", verdict, {"valid": False, "reason": "bad_signature"})
        self.ok("validate tampered", "200 valid false, bad_signature")
        verdict = validate("validate function", "b", good)
        self.expect("validate function", verdict, {"valid": False, "reason": "function_mismatch"})
        self.ok("validate function", "200 valid false, function_mismatch")

        merged = self.call("metadata merge", "PATCH", f"{sessions}/metadata", 200, {"metadata": METADATA})
        self.expect("metadata merge", merged, {"call_id": call_id, "metadata": METADATA})
        self.ok("metadata merge", "200 merged")
        read = self.call("metadata read", "GET", f"{sessions}/metadata", 200)
        self.expect("metadata read", read, {"call_id": call_id, "metadata": METADATA})
        self.ok("metadata read", "200 as merged")

        self.expect("end", self.call("end", "DELETE", sessions, 200), {"ended": True})
        self.ok("end", '200 {"ended": true}')

        # The token minted before the end: refused only when the stack checks revocation.
        after_end = validate("revocation", "a", good)
        modes = {"on": {"valid": False, "reason": "session_ended"}, "off": {"valid": True}}
        mode = next((m for m, answer in modes.items() if after_end == answer), None)
        if mode is None:
            raise WrongAnswer(f"revocation: expected one of {list(modes.values())!r}, got {after_end!r}")
        self.ok("revocation", f"check {mode}: the ended session's token answers {json.dumps(after_end)}")

        status, code = MINT_AFTER_END
        refused = self.call("mint refused", "POST", f"{sessions}/tokens", status, {"function": "a"})
        self.expect("mint refused", refused.get("error") if isinstance(refused, dict) else refused, code)
        self.ok("mint refused", f"{status} {code}")
        return mode

    def validator(self, call_id: str) -> Callable[[str, str, str], Any]:
        def validate(step: str, function: str, token: str) -> Any:
            body = {"call_id": call_id, "function": function, "token": token}
            return self.call(step, "POST", "/tokens/validate", 200, body)

        return validate


def tampered(token: str) -> str:
    """The token with one hex digit of its signature changed: well formed, wrongly signed."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    head, signature = raw.rsplit(".", 1)
    flipped = ("1" if signature[:1] == "0" else "0") + signature[1:]
    return base64.urlsafe_b64encode(f"{head}.{flipped}".encode()).decode()


def session_for(base_url: str, region: str | None = None, sign: bool | None = None) -> requests.Session:
    """A requests session: by default unsigned for the local stack, SigV4-signed for anything else."""
    http = requests.Session()
    try:
        http.auth = auth_for(base_url, sign=not is_local(base_url) if sign is None else sign, region=region)
    except ValueError as exc:  # no credentials, or no region to sign for
        raise WrongAnswer(str(exc)) from exc
    return http


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the API's base URL (the ApiUrl output), or the local stack's")
    parser.add_argument("--region", help="for a custom domain or the local stack: the region to sign for")
    parser.add_argument(
        "--sign", action="store_true", help="sign a local stack's requests too (AUTH=iam make serve checks them)"
    )
    args = parser.parse_args(argv)
    try:
        with session_for(args.url, args.region, sign=True if args.sign else None) as http:
            mode = Lifecycle(args.url, http).run()
    except WrongAnswer as exc:
        print(f"FAIL {exc}", file=sys.stdout, flush=True)
        return 1
    print(f"passed: every step answered as expected (revocation check {mode})")
    return 0
