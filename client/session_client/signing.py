"""SigV4 for API Gateway's AWS_IAM routes, with botocore's own signer, as a `requests` auth hook."""

from __future__ import annotations

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
