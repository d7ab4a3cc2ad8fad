"""AUTH=iam: the front lets through only requests SigV4-signed for execute-api in the stack's region
with the emulated account's (temporary) credentials, session token included, and sent to the API's own
host; anything else gets the gateway's 403 before a function runs.

Requests are signed by botocore's own signer (as every AWS SDK signs), by the client's hook and by
curl's independent implementation (`--aws-sigv4`), and then spoiled one way at a time.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from session_client import SigV4

from local import sigv4
from local.aws import REGION
from local.serve import banner
from local.template import ROOT, Function, Route
from tests.support.front import serving_front

ACCOUNT = sigv4.Account()
HOST = "127.0.0.1:3000"
TARGET = "/sessions/call-1/tokens"
BODY = b'{"functions":["get_weather"]}'
TESTING = Credentials("testing", "testing", "testing")  # moto's: temporary credentials, with a session token
LONG_TERM = Credentials("testing", "testing")
OTHER_API = "abc123defg.execute-api.us-east-1.amazonaws.com"


def signed(
    credentials: Credentials = TESTING,
    region: str = REGION,
    service: str = "execute-api",
    host: str = HOST,
    body: bytes = BODY,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers of a request signed by botocore, with `extra` headers signed too."""
    headers = {"Content-Type": "application/json", **(extra or {})}
    request = AWSRequest(method="POST", url=f"http://{host}{TARGET}", data=body, headers=headers)
    SigV4Auth(credentials, service, region).add_auth(request)
    return {"Host": host, **dict(request.headers.items())}


def check(headers: dict[str, str], *, method: str = "POST", target: str = TARGET, body: bytes = BODY,
          now: datetime.datetime | None = None, account: sigv4.Account = ACCOUNT) -> bool:  # fmt: skip
    return sigv4.is_signed(account, method, target, headers.items(), body, sigv4.api_hosts(3000), now)


def test_a_botocore_signature_with_the_emulated_credentials_counts() -> None:
    assert check(signed())
    assert "X-Amz-Security-Token" in signed()
    assert check(signed(host="localhost:3000"))  # both names of the loopback API


def test_long_term_credentials_sign_without_a_session_token_and_only_so() -> None:
    long_term = sigv4.Account(session_token="")
    assert check(signed(LONG_TERM), account=long_term)
    assert not check(signed(), account=long_term)  # a token the credentials do not have


def test_the_client_hook_signs_what_the_front_accepts() -> None:
    prepared = requests.Request(
        "POST",
        f"http://{HOST}{TARGET}",
        data=BODY,
        headers={"Content-Type": "application/json"},
        auth=SigV4(TESTING, REGION),
    ).prepare()
    assert check({"Host": HOST, **{name: str(value) for name, value in prepared.headers.items()}})


def spoiled(name: str) -> tuple[dict[str, str], dict[str, object]]:
    """A request spoiled one way, and what `check` is asked with."""
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=6)
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=6)
    unsigned = {"Host": HOST, "Content-Type": "application/json"}
    cases: dict[str, tuple[dict[str, str], dict[str, object]]] = {
        "unsigned": (unsigned, {}),
        "another secret": (signed(Credentials("testing", "not-the-secret", "testing")), {}),
        "another access key": (signed(Credentials("AKIDEXAMPLE", "testing", "testing")), {}),
        "another region": (signed(region="eu-west-1"), {}),
        "another service": (signed(service="lambda"), {}),
        "a foreign session token": (signed(Credentials("testing", "testing", "someone-elses")), {}),
        "the session token left out": (signed(LONG_TERM), {}),
        "signed for and sent to another API": (signed(host=OTHER_API), {}),
        "signed for and sent to another port": (signed(host="127.0.0.1:3001"), {}),
        "another body": (signed(), {"body": b'{"functions":["transfer"]}'}),
        "another path": (signed(), {"target": "/sessions/call-2/tokens"}),
        "another method": (signed(), {"method": "DELETE"}),
        "a query added": (signed(), {"target": "/sessions/call-1/tokens?x=1"}),
        "expired": (signed(), {"now": later}),
        "from the future": (signed(), {"now": earlier}),
        "a lying content hash": (signed(extra={"X-Amz-Content-SHA256": "0" * 64}), {}),
    }
    return cases[name]


@pytest.mark.parametrize(
    "name",
    [
        "unsigned",
        "another secret",
        "another access key",
        "another region",
        "another service",
        "a foreign session token",
        "the session token left out",
        "signed for and sent to another API",
        "signed for and sent to another port",
        "another body",
        "another path",
        "another method",
        "a query added",
        "expired",
        "from the future",
        "a lying content hash",
    ],
)
def test_a_spoiled_request_does_not_count(name: str) -> None:
    headers, asked = spoiled(name)
    assert not check(headers, **asked)  # type: ignore[arg-type]


def test_a_signature_without_the_host_or_with_a_changed_host_does_not_count() -> None:
    headers = signed()
    authorization = headers["Authorization"]
    assert "SignedHeaders=content-type;host;x-amz-date" in authorization
    without_host = authorization.replace("content-type;host;x-amz-date", "content-type;x-amz-date")
    assert not check({**headers, "Authorization": without_host})
    assert not check({**headers, "Host": "127.0.0.1:3001"})


# -- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def iam_front(make_function: Callable[..., Function]) -> Iterator[str]:
    echo = make_function("echo", routes=[Route("POST", "/items/{id}")])
    with serving_front({"echo": echo}, iam=ACCOUNT) as url:
        yield url


def test_unsigned_or_wrongly_signed_requests_get_the_gateways_403(iam_front: str) -> None:
    unsigned = requests.post(f"{iam_front}/items/1", json={}, timeout=30)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    wrong = requests.post(
        f"{iam_front}/items/1", json={}, auth=SigV4(Credentials("testing", "wrong"), REGION), timeout=30
    )
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    # A route that does not exist is still the gateway's 404: routes are matched before authorization.
    missing = requests.post(f"{iam_front}/nowhere", json={}, timeout=30)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


def test_a_signature_for_another_api_sent_with_its_host_gets_the_gateways_403(iam_front: str) -> None:
    body = b'{"a":1}'
    request = AWSRequest(
        method="POST", url=f"https://{OTHER_API}/items/1", data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(TESTING, "execute-api", REGION).add_auth(request)
    headers = {"Host": OTHER_API, **dict(request.headers.items())}
    reply = requests.post(f"{iam_front}/items/1", data=body, headers=headers, timeout=30)
    assert (reply.status_code, reply.json()) == (403, {"message": "Forbidden"})


def test_a_signed_request_reaches_the_function(iam_front: str) -> None:
    reply = requests.post(f"{iam_front}/items/1?action=echo", json={"a": 1}, auth=SigV4(TESTING, REGION), timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["event"]["pathParameters"] == {"id": "1"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_signs_what_the_front_accepts(iam_front: str) -> None:
    """curl's SigV4 is written apart from botocore's: the front checks the protocol, not one signer."""

    def curl(*auth: str) -> tuple[int, str]:
        request = ["-X", "POST", f"{iam_front}/items/7", "-H", "content-type: application/json", "-d", '{"b":2}']
        run = subprocess.run(
            ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *request, *auth],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        body, _, status = run.stdout.rpartition("\n")
        return int(status), body

    sigv4_auth = ("--aws-sigv4", f"aws:amz:{REGION}:execute-api")
    token = ("-H", "x-amz-security-token: testing")
    status, body = curl(*sigv4_auth, "--user", "testing:testing", *token)
    assert status == 200 and json.loads(body)["event"]["pathParameters"] == {"id": "7"}, body
    forbidden = (403, '{"message":"Forbidden"}')
    assert curl(*sigv4_auth, "--user", "testing:nope", *token) == forbidden
    assert curl(*sigv4_auth, "--user", "testing:testing") == forbidden  # temporary credentials without their token


def test_the_banner_says_how_to_sign() -> None:
    from local.aws import Provisioned
    from local.router import Router

    text = banner(
        "http://127.0.0.1:3000", "http://127.0.0.1:5000", Provisioned("t", "s", "k"), Router([]), "x", [], ACCOUNT
    )
    assert "SigV4 for execute-api in us-east-1" in text and "key testing, secret testing" in text
    assert "session token testing" in text
    assert "--aws-sigv4 aws:amz:us-east-1:execute-api --user testing:testing -H 'x-amz-security-token: testing'" in text
    assert "auth                 none" in banner("u", "e", Provisioned("t", "s", "k"), Router([]), "x", [])


def test_an_unknown_auth_mode_stops_the_stack_at_once() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "local.serve"],
        cwd=ROOT,
        env={"AUTH": "jwt", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "AUTH='jwt'" in run.stderr, run.stderr
