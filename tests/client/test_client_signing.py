"""SigV4 as the client sends it: AWS's published test vector, an independent reference signer, the wire.

The reference signer below is written from the SigV4 specification (no botocore), and is
itself checked against AWS's published `get-vanilla` vector before it judges the client.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from session_client import RemoteSessionManager, SigV4
from session_client.signing import is_local, region_from_url

from tests.support.stub_service import StubService, serving

# AWS's SigV4 test suite: get-vanilla (GET https://example.amazonaws.com/ at 20150830T123600Z).
VECTOR_CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_TIME = datetime.datetime(2015, 8, 30, 12, 36, 0)
VECTOR_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
)
SESSION_CREDENTIALS = Credentials("ASIAEXAMPLE", "c2VjcmV0LWtleS1leGFtcGxl", "FQoGZXIvYXdzEXAMPLETOKEN//+=")
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


# -- the reference signer ------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def reference_canonical_request(method: str, url: str, headers: dict[str, str], signed: list[str], body: bytes) -> str:
    """Task 1 of SigV4: the canonical request (paths URI-encoded twice, as for every service but S3)."""
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe="/~")  # the path as sent is encoded once already
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    lower = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lower[name]}\n" for name in signed)
    return "\n".join([method, path, query, canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])


def reference_string_to_sign(amz_date: str, region: str, service: str, canonical_request: str) -> str:
    """Task 2: the string to sign."""
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])


def reference_signature(secret_key: str, amz_date: str, region: str, service: str, string_to_sign: str) -> str:
    """Tasks 3 and 4: the derived key and the signature."""
    key = _hmac(("AWS4" + secret_key).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def reference_check(
    method: str, url: str, headers: dict[str, str], body: bytes, credentials: Credentials
) -> re.Match[str]:
    """Verify a received request's signature the way API Gateway's IAM authorizer would."""
    lower = {k.lower(): v for k, v in headers.items()}
    match = AUTHORIZATION.fullmatch(lower["authorization"])
    assert match, lower["authorization"]
    signed = match["signed"].split(";")
    assert signed == sorted(signed)
    canonical = reference_canonical_request(method, url, headers, signed, body)
    to_sign = reference_string_to_sign(lower["x-amz-date"], match["region"], match["service"], canonical)
    expected = reference_signature(
        credentials.secret_key, lower["x-amz-date"], match["region"], match["service"], to_sign
    )
    assert match["signature"] == expected
    assert match["key"] == credentials.access_key
    assert match["date"] == lower["x-amz-date"][:8]
    return match


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> datetime.datetime:
    """botocore's signing clock, frozen at the vector's time."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: VECTOR_TIME)
    return VECTOR_TIME


def test_reference_signer_reproduces_the_published_vector() -> None:
    headers = {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"}
    canonical = reference_canonical_request(
        "GET", "https://example.amazonaws.com/", headers, ["host", "x-amz-date"], b""
    )
    to_sign = reference_string_to_sign("20150830T123600Z", "us-east-1", "service", canonical)
    signature = reference_signature(VECTOR_CREDENTIALS.secret_key, "20150830T123600Z", "us-east-1", "service", to_sign)
    assert VECTOR_AUTHORIZATION.endswith(f"Signature={signature}")


def test_client_signer_reproduces_the_published_vector(fixed_time: datetime.datetime) -> None:
    auth = SigV4(VECTOR_CREDENTIALS, "us-east-1", service="service")
    request = requests.Request("GET", "https://example.amazonaws.com/", auth=auth).prepare()
    assert request.headers["Authorization"] == VECTOR_AUTHORIZATION
    assert request.headers["X-Amz-Date"] == "20150830T123600Z"
    assert "X-Amz-Security-Token" not in request.headers  # long-term credentials carry no token


def test_post_with_session_credentials_matches_reference_and_botocore(fixed_time: datetime.datetime) -> None:
    url = "https://abc123.execute-api.eu-west-2.amazonaws.com/dev/sessions/root%2F2.x/tokens"
    body = json.dumps({"function": "get_weather"}).encode()
    auth = SigV4(SESSION_CREDENTIALS, "eu-west-2")
    sent = requests.Request("POST", url, data=body, headers={"Content-Type": "application/json"}, auth=auth).prepare()

    assert sent.headers["X-Amz-Date"] == "20150830T123600Z"
    assert sent.headers["X-Amz-Security-Token"] == SESSION_CREDENTIALS.token
    headers = {name: value if isinstance(value, str) else value.decode() for name, value in sent.headers.items()}
    headers["Host"] = "abc123.execute-api.eu-west-2.amazonaws.com"
    match = reference_check("POST", url, headers, body, SESSION_CREDENTIALS)
    assert match["service"] == "execute-api" and match["region"] == "eu-west-2"
    assert match["signed"] == "content-type;host;x-amz-date;x-amz-security-token"

    # botocore's own canonical request and string to sign for the same request agree with the reference.
    again = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    signer = botocore.auth.SigV4Auth(SESSION_CREDENTIALS, "execute-api", "eu-west-2")
    signer.add_auth(again)
    assert again.headers["Authorization"] == sent.headers["Authorization"]
    del again.headers["Authorization"]  # as it was when botocore built the canonical request
    canonical = reference_canonical_request("POST", url, headers, match["signed"].split(";"), body)
    assert signer.canonical_request(again) == canonical
    assert signer.string_to_sign(again, canonical) == reference_string_to_sign(
        "20150830T123600Z", "eu-west-2", "execute-api", canonical
    )


def test_a_changed_body_changes_the_signature(fixed_time: datetime.datetime) -> None:
    auth = SigV4(SESSION_CREDENTIALS, "us-east-1")
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/dev/tokens/validate"

    def authorization(body: bytes) -> str:
        prepared = requests.Request("POST", url, data=body, headers={"Content-Type": "application/json"}, auth=auth)
        return str(prepared.prepare().headers["Authorization"])

    assert authorization(b'{"token":"a"}') != authorization(b'{"token":"b"}')


def test_region_and_locality_from_the_url() -> None:
    assert region_from_url("https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com/prod") == "ap-southeast-2"
    assert region_from_url("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/prod") == "cn-north-1"
    assert region_from_url("https://sessions.example.com/") is None
    assert is_local("http://127.0.0.1:3000") and is_local("http://localhost:3000/")
    assert not is_local("https://127.0.0.1:3000") and not is_local("http://10.0.0.5:3000")


# -- on the wire ---------------------------------------------------------------------------


@pytest.fixture
def recorder() -> Iterator[StubService]:
    """Records what reaches it and answers like the validate route."""
    with serving(lambda _: (200, {"valid": True})) as stub:
        yield stub


def test_signed_request_verifies_at_the_receiving_end(recorder: StubService) -> None:
    with RemoteSessionManager(recorder.url, sign=True, credentials=SESSION_CREDENTIALS, region="us-west-2") as client:
        assert client.signed
        assert client.validate_token("call-1", "get_weather", "dG9rZW4=")
    [got] = recorder.received
    assert got.path == "/tokens/validate"
    assert json.loads(got.body) == {"call_id": "call-1", "function": "get_weather", "token": "dG9rZW4="}
    match = reference_check(got.method, recorder.url + got.path, got.headers, got.body, SESSION_CREDENTIALS)
    assert (match["region"], match["service"]) == ("us-west-2", "execute-api")
    assert {"content-type", "host", "x-amz-date", "x-amz-security-token"} <= set(match["signed"].split(";"))
    assert got.headers["X-Amz-Security-Token"] == SESSION_CREDENTIALS.token
    assert re.fullmatch(r"\d{8}T\d{6}Z", got.headers["X-Amz-Date"])


@pytest.mark.parametrize("sign", [False, None])  # explicit, and automatic for a loopback http URL
def test_unsigned_mode_sends_no_signature(recorder: StubService, sign: bool | None) -> None:
    with RemoteSessionManager(recorder.url, sign=sign, credentials=SESSION_CREDENTIALS) as client:
        assert not client.signed
        assert client.validate_token("call-1", "get_weather", "dG9rZW4=")
    [got] = recorder.received
    names = {name.lower() for name in got.headers}
    assert not names & {"authorization", "x-amz-date", "x-amz-security-token"}


def test_automatic_mode_signs_remote_urls_with_the_environment_credentials() -> None:
    # tests/conftest.py puts fake credentials in the environment, where botocore finds them.
    session = requests.Session()
    client = RemoteSessionManager("https://a1b2c3.execute-api.eu-central-1.amazonaws.com/dev", session=session)
    assert client.signed
    assert isinstance(session.auth, SigV4) and session.auth.region == "eu-central-1"


def test_without_credentials_a_remote_url_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """API Gateway answers an unsigned request 403 after it crossed the network: none is ever sent.
    The error names what to set."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    url = "https://a1b2c3.execute-api.eu-central-1.amazonaws.com/dev"
    for sign in (None, True):
        with pytest.raises(ValueError, match="no AWS credentials") as refused:
            RemoteSessionManager(url, sign=sign)
        assert "AWS_ACCESS_KEY_ID" in str(refused.value) and "AWS_PROFILE" in str(refused.value)
    assert not RemoteSessionManager(url, sign=False).signed  # the one way to send unsigned requests there
    assert not RemoteSessionManager("http://127.0.0.1:3000").signed  # the local stack needs none


def test_signing_needs_a_region_for_a_custom_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    with pytest.raises(ValueError, match="region"):
        RemoteSessionManager("https://sessions.example.com", sign=True, credentials=SESSION_CREDENTIALS)
    session = requests.Session()
    RemoteSessionManager(
        "https://sessions.example.com", sign=True, credentials=SESSION_CREDENTIALS, region="us-east-2", session=session
    )
    assert isinstance(session.auth, SigV4) and session.auth.region == "us-east-2"


def test_aws_region_names_the_region_as_the_error_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client and `make smoke` find the region one way: AWS_REGION counts, as the error message says."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    session = requests.Session()
    RemoteSessionManager("https://sessions.example.com", sign=True, credentials=SESSION_CREDENTIALS, session=session)
    assert isinstance(session.auth, SigV4) and session.auth.region == "eu-west-1"
