"""The AWS environment of a test or benchmark process: the emulated account's credentials, never a
real account's, set before anything builds a client."""

from __future__ import annotations

import os

from local.aws import FAKE_CREDENTIALS, REGION

FAKE_AWS_ENV = {
    **FAKE_CREDENTIALS,
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
}


def use_fake_aws() -> None:
    """Give this process the fake credentials; a profile would name a real account's."""
    os.environ.update(FAKE_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
