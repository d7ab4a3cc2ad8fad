"""The HTTP API's IAM authorization, for `AUTH=iam make serve`: a request counts only when it is
SigV4-signed for `execute-api` in the stack's region with the emulated account's credentials.

The signature is recomputed with botocore's own signer (`SigV4Auth`'s canonical request, string
to sign and signature, at the request's own `X-Amz-Date`) and compared in constant time. What API
Gateway also requires is required here: the `AWS4-HMAC-SHA256` scheme, a credential scope of the
request's date, this region and `execute-api`, a signed `host`, a time within five minutes of now
(docs: IAM/latest/UserGuide/reference_aws-signing.html, "a request must reach AWS within five
minutes of the time stamp in the request"), the security token of temporary credentials, and a
Host that names this API (see `is_signed`). Only headers botocore itself would sign may be signed (it never signs
`user-agent`, say), which every AWS SDK and `curl --aws-sigv4` satisfy.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .aws import FAKE_CREDENTIALS, REGION

SERVICE = "execute-api"
MAX_SKEW = datetime.timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Za-z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class Account:
    """Whose signatures count: one access key, its secret and its session token (empty: long-term
    credentials, which sign without one)."""

    access_key: str = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    secret_key: str = FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    session_token: str = FAKE_CREDENTIALS["AWS_SESSION_TOKEN"]
    region: str = REGION


def api_hosts(port: int) -> frozenset[str]:
    """The Host values that name the local API listening on `port` (lowercase, as compared)."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def is_signed(
    account: Account,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    hosts: Collection[str],
    now: datetime.datetime | None = None,
) -> bool:
    """True when the request (`target` as received: path and query, still percent-encoded), sent
    with a Host among `hosts` (this API's own names), carries a valid SigV4 signature of `account`'s
    for execute-api in its region."""
    received: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        received[key] = f"{received[key]},{value}" if key in received else value
    match = _AUTHORIZATION.fullmatch(received.get("authorization", ""))
    amz_date = received.get("x-amz-date", "")
    if match is None or match["key"] != account.access_key:
        return False
    if (match["region"], match["service"]) != (account.region, SERVICE) or match["date"] != amz_date[:8]:
        return False
    try:
        signed_at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    except ValueError:
        return False
    if abs((now or datetime.datetime.now(datetime.UTC)) - signed_at) > MAX_SKEW:
        return False
    # A deployed API is reached only through its own endpoint, {api-id}.execute-api.{region}.amazonaws.com
    # or a custom domain name of it (apigateway/latest/developerguide/http-api-disable-default-endpoint.html),
    # and the signed Host names that endpoint: a signature made for another API is no signature here.
    if received.get("host", "").lower() not in hosts:
        return False
    # Temporary credentials sign with their session token sent as X-Amz-Security-Token
    # (IAM/latest/UserGuide/reference_sigv-create-signed-request.html, "temporary security credentials";
    # STS/latest/APIReference/CommonParameters.html, X-Amz-Security-Token): without it AWS refuses
    # the temporary access key, and a token that is not the credentials' is "invalid".
    token = received.get("x-amz-security-token")
    if token != (account.session_token or None):
        return False
    signed = match["signed"].split(";")
    if "host" not in signed or signed != sorted(set(signed)) or not set(signed) <= received.keys():
        return False
    content_hash = received.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        return False  # botocore would trust the header's hash; the body is what was sent
    request = AWSRequest(
        method=method, url=f"http://{received['host']}{target}", data=body, headers={n: received[n] for n in signed}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(account.access_key, account.secret_key, token), SERVICE, account.region)
    if signer.signed_headers(signer.headers_to_sign(request)) != match["signed"]:
        return False  # a header botocore never signs: the canonical request would not be the client's
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, match["signature"])
