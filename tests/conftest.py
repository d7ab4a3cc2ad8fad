"""Shared fixtures: an emulated AWS account (moto) provisioned from template.yaml, and the service over it.

Fixtures:
- `clock`: a settable clock for the store's and the service's `clock` parameter.
- `aws`: mock_aws (with DynamoDB's item-size limit, as the local stack's moto server has it)
  with the template's table and secret created by local.aws.provision; the
  template's function environment (TABLE_NAME, SIGNING_SECRET_ID, ...) is set and the core's
  per-process caches are cleared, so handlers calling default_service() use this account.
- `store`, `keyring`: the core's DynamoSessionStore and KeyRing over that account.
- `make_service(**settings)`: a SessionService over them (settings overridable); `service`: the default one.
- `local_stack`: the local stack (`python -m local.serve` as a subprocess) with the template's
  defaults, started once per test session and shared by every folder that tests over HTTP
  (integration, client, hardening); `http`: a requests session for it. Tests there use fresh
  call ids, so they share its table safely. `iam_stack`: the same with `AUTH=iam` (SigV4
  checked as the deployed API checks it), likewise shared. Other configurations start their own
  (`harness.served.running_stack(**env)`).

Hypothesis: profile "ci" (default, bounded) or "full" (SOAK=full).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from harness.fake_aws import use_fake_aws
from tests.support.accounts import AwsAccount, core_client
from tests.support.clock import Clock

if TYPE_CHECKING:
    import requests
    from session_core.keys import KeyRing
    from session_core.service import SessionService
    from session_core.store import DynamoSessionStore

    from harness.served import ServedStack

use_fake_aws()  # before anything builds a client, so no test can reach a real account
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "swaig-sessions")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SwaigSessions")

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,  # moto calls vary in duration; a deadline would only add flakiness
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "full",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("full" if os.environ.get("SOAK") == "full" else "ci")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsAccount]:
    from moto import mock_aws

    from harness.container import cold_start
    from local import template
    from local.aws import provision
    from local.moto_server import enforce_item_size

    enforce_item_size()  # DynamoDB's 400 KB item limit in every test, not only once a server has started
    with mock_aws():
        dynamodb, secretsmanager = core_client("dynamodb"), core_client("secretsmanager")
        made = provision(dynamodb, secretsmanager, stage="test")
        environment = next(iter(template.functions(made.refs()).values())).environment
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        cold_start()
        yield AwsAccount(dynamodb, secretsmanager, made.table_name, made.secret_id, made.signing_key, environment)
    cold_start()


@pytest.fixture
def store(aws: AwsAccount, clock: Clock) -> DynamoSessionStore:
    from session_core.store import DynamoSessionStore

    return DynamoSessionStore(aws.table_name, aws.dynamodb, clock=clock)


@pytest.fixture
def keyring(aws: AwsAccount) -> KeyRing:
    from session_core.config import Settings
    from session_core.keys import KeyRing

    return KeyRing(aws.secret_id, aws.secretsmanager, Settings("", "").key_cache_secs)


@pytest.fixture
def make_service(aws: AwsAccount, clock: Clock) -> Callable[..., SessionService]:
    """Build a SessionService over the account; keyword arguments override Settings fields."""
    from session_core.config import Settings
    from session_core.keys import KeyRing
    from session_core.service import SessionService
    from session_core.store import DynamoSessionStore

    def build(**overrides: Any) -> SessionService:
        config = replace(Settings(table_name=aws.table_name, signing_secret_id=aws.secret_id), **overrides)
        return SessionService(
            config,
            store=DynamoSessionStore(config.table_name, aws.dynamodb, clock=clock),
            keys=KeyRing(
                config.signing_secret_id,
                aws.secretsmanager,
                config.key_cache_secs,
                max_token_lifetime_secs=config.max_token_lifetime_secs,
            ),
            clock=clock,
        )

    return build


@pytest.fixture
def service(make_service: Callable[..., SessionService]) -> SessionService:
    return make_service()


@pytest.fixture(scope="session")
def local_stack() -> Iterator[ServedStack]:
    from harness.served import running_stack

    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def iam_stack() -> Iterator[ServedStack]:
    from harness.served import running_stack

    with running_stack(AUTH="iam") as running:
        yield running


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    import requests

    with requests.Session() as session:
        yield session
