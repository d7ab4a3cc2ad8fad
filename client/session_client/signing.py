"""SigV4 for API Gateway's AWS_IAM routes, with botocore's own signer, as a `requests` auth hook."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

SERVICE = "execute-api"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# <api-id>.execute-api.<region>.amazonaws.com[.cn]
_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# What SigV4 adds to a request: copied from botocore's signed copy onto the one sent.
SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def is_local(url: str) -> bool:
    """True for the local stack: plain http on the loopback interface."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS


def region_from_url(url: str) -> str | None:
    """The region of a default execute-api URL (None for a custom domain)."""
    match = _API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


class SigV4(requests.auth.AuthBase):
    """Signs each prepared request just before it is sent.

    Signs the host, content type and body hash (plus X-Amz-Date and, with
    temporary credentials, X-Amz-Security-Token); other headers requests adds
    stay unsigned, as SigV4 allows. Refreshable credentials (roles, SSO) are
    frozen per request so a refresh never mixes a key with another's token.
    """

    def __init__(self, credentials: Any, region: str, service: str = SERVICE) -> None:
        self.credentials = credentials
        self.region = region
        self.service = service

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        signed = AWSRequest(method=request.method, url=request.url, data=body, headers=headers)
        SigV4Auth(self._frozen(), self.service, self.region).add_auth(signed)
        for name in SIGNATURE_HEADERS:
            request.headers.pop(name, None)  # a retry or redirect: never send stale values
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        return request

    def _frozen(self) -> Any:
        get = getattr(self.credentials, "get_frozen_credentials", None)
        return get() if get is not None else self.credentials


def auth_for(
    base_url: str, *, sign: bool | None = None, credentials: Any = None, region: str | None = None
) -> SigV4 | None:
    """How to sign requests to `base_url`: None (unsigned) or a SigV4 auth hook.

    `sign=None` signs anything but the local stack; `sign=True` signs even that. Either way,
    with no credentials to sign with it raises (API Gateway answers an unsigned request to an
    IAM route 403, after it has crossed the network): `sign=False` is the only way to send
    unsigned requests to a remote URL. Region: `region`, else the one in an execute-api URL,
    else AWS_REGION, else botocore's configured one.
    """
    if sign is False or (sign is None and is_local(base_url)):
        return None
    import botocore.session

    botocore_session = botocore.session.get_session()
    credentials = credentials or botocore_session.get_credentials()
    if credentials is None:
        raise ValueError(
            f"no AWS credentials to sign requests to {base_url} with: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE "
            "(aws configure / aws sso login), or run with an IAM role; sign=False only for an "
            "endpoint that takes unsigned requests"
        )
    region = (
        region
        or region_from_url(base_url)
        or os.environ.get("AWS_REGION")
        or botocore_session.get_config_variable("region")
    )
    if not region:
        raise ValueError("cannot tell the region to sign for: pass a region or set AWS_REGION")
    return SigV4(credentials, region)
