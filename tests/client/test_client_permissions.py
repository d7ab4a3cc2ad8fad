"""The template's managed policies for agents allow exactly the calls the client makes.

`AgentPolicy` is held to what a RemoteSessionManager calls through all of its methods, validating
at the service and validating in-process (`secret_arn=`); `ValidatePolicy` to what checking
tokens alone calls, either way. The client's requests are recorded by a forwarding stub in front
of the local stack (each one an `execute-api:Invoke` on `<METHOD>/<path>`), its AWS calls by
botocore's event hooks, and compared with the policies' statements: a grant no call uses is
more than an agent needs, a call no grant covers would be AccessDenied (the gateway's 403) once
deployed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import botocore.session
import pytest
import requests
from session_client import RemoteSessionManager
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack
from local import template
from local.aws import Provisioned
from local.router import Router, template_routes
from tests.support.stub_service import Received, StubService, serving

# How the policies name the API: its routes under the template's own API and stage.
API_ARN = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/${Stage}/"
SECRET_ID = "SigningKeySecret"
INVOKE, READ_SECRET, DECRYPT = "execute-api:Invoke", "secretsmanager:GetSecretValue", "kms:Decrypt"


@dataclass
class Recorder:
    """What the client asked for: (action, resource) pairs, as IAM would authorize them."""

    stack: ServedStack
    calls: set[tuple[str, str]] = field(default_factory=set)

    def http(self, request: Received) -> None:
        # API Gateway authorizes the path as requested, under the stage: <METHOD>/<path>.
        self.calls.add((INVOKE, f"{request.method}/{unquote(request.path.partition('?')[0]).lstrip('/')}"))

    def aws(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        secret = params.get("SecretId")
        resource = SECRET_ID if secret == self.stack.secret_arn else str(secret)
        self.calls.add((f"{model.service_model.signing_name}:{model.name}", resource))


@pytest.fixture
def recorder(stack: ServedStack, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    record = Recorder(stack)
    create_client = botocore.session.Session.create_client

    def recording(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", record.aws)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint)  # secret_arn= reads the stack's secret
    return record


@pytest.fixture
def front(stack: ServedStack, recorder: Recorder) -> Iterator[StubService]:
    """The local stack behind a stub that records each request and forwards it as it came."""

    def forward(request: Received) -> tuple[int, bytes]:
        recorder.http(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        answer = requests.request(
            request.method, stack.base_url + request.path, data=request.body, headers=headers, timeout=60
        )
        return answer.status_code, answer.content

    with serving(forward) as stub:
        yield stub


def grants(policy_id: str) -> set[tuple[str, str]]:
    """(action, resource pattern) for each Allow of the policy: `<METHOD>/<path>` for the API's
    routes, the logical id for the secret."""
    found: set[tuple[str, str]] = set()
    for statement in template.resource(policy_id)["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and not {"NotAction", "NotResource", "Condition"} & statement.keys()
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            for resource in resources:
                if action == INVOKE:
                    arn = resource["Fn::Sub"]
                    assert arn.startswith(API_ARN), arn  # this stack's API and stage, nothing wider
                    found.add((action, arn.removeprefix(API_ARN)))
                elif action == READ_SECRET:
                    assert resource == {"Ref": SECRET_ID}, resource
                    found.add((action, SECRET_ID))
                else:
                    raise AssertionError(f"{policy_id}: an action the client never needs: {action}")
    return found


def covers(grant: tuple[str, str], call: tuple[str, str]) -> bool:
    return grant[0] == call[0] and fnmatch.fnmatchcase(call[1], grant[1])  # IAM's * matches any run, / too


def assert_exactly(policy_id: str, calls: set[tuple[str, str]]) -> None:
    allowed = grants(policy_id)
    assert not [c for c in calls if not any(covers(g, c) for g in allowed)], f"{policy_id}: calls it would deny"
    assert not [g for g in allowed if not any(covers(g, c) for c in calls)], f"{policy_id}: grants no call uses"
    # No wildcard reaches a route the client never called (the debug route above all).
    called = {match_route(c[1]) for c in calls if c[0] == INVOKE}
    for route, _ in ROUTES:
        sample = f"{route.method}{route.path.replace('{call_id}', 'call-x')}"
        if any(covers(g, (INVOKE, sample)) for g in allowed):
            assert f"{route.method} {route.path}" in called, f"{policy_id} grants {route.method} {route.path}"


ROUTES = template_routes(template.functions(Provisioned("table", "secret", "key").refs()))
_ROUTER = Router(ROUTES)


def match_route(resource: str) -> str:
    method, _, path = resource.partition("/")
    found = _ROUTER.match(method, "/" + path)
    assert found is not None, resource
    return f"{found.route.method} {found.route.path}"


def every_method(manager: RemoteSessionManager, call_id: str) -> None:
    """Each of the SessionManager's methods, through the paths that call differently."""
    other, third = f"{call_id}-b", f"{call_id}-c"
    manager.create_session(call_id, {"caller": "+15551234567"})
    token = manager.create_tool_token("get_weather", call_id)  # the first render: learns, then mints
    manager.create_tool_token("transfer", call_id)
    manager.create_tool_token("get_weather", other)  # no session yet: started to mint
    manager.create_session(third)  # with the learned functions' tokens
    manager.create_tool_tokens(call_id, ["get_weather", "transfer"])
    assert manager.validate_token(call_id, "get_weather", token)
    assert not manager.validate_tool_token("transfer", token, call_id)
    assert manager.check_token(call_id, "get_weather", token).valid
    assert manager.debug_token(token)["valid_format"]
    assert manager.set_session_metadata(call_id, "step", "greeting")
    assert manager.set_session_metadata(call_id, {"attempts": 1})
    assert manager.get_session_metadata(call_id)["step"] == "greeting"
    assert manager.delete_session_metadata(call_id)
    assert manager.end_session(call_id)
    assert not manager.activate_session(call_id)
    assert manager.activate_session(other)
    assert not manager.set_session_metadata(call_id, "step", "after the end")


def validation_only(manager: RemoteSessionManager, stack: ServedStack, call_id: str) -> None:
    token = SessionManager(secret_key=stack.signing_key).generate_token("get_weather", call_id)
    assert manager.validate_tool_token("get_weather", token, call_id)
    assert not manager.validate_token(call_id, "transfer", token)
    assert manager.check_token(call_id, "get_weather", token + "A").reason is not None


@pytest.fixture
def managers(
    front: StubService, connect: Callable[..., RemoteSessionManager], stack: ServedStack
) -> Iterator[Callable[..., RemoteSessionManager]]:
    made: list[RemoteSessionManager] = []

    def make(**options: Any) -> RemoteSessionManager:
        made.append(connect(front.url, debug_mode=True, **options))
        assert made[-1].ready(60)  # with secret_arn: the key is read before the first mint
        return made[-1]

    yield make
    for manager in made:
        manager.close()


def test_agent_policy_is_what_the_client_calls_in_either_mode(
    managers: Callable[..., RemoteSessionManager], recorder: Recorder, stack: ServedStack, call_id: str
) -> None:
    every_method(managers(), call_id)
    remote = set(recorder.calls)
    assert {action for action, _ in remote} == {INVOKE}  # validating at the service reads no key
    in_process = managers(secret_arn=stack.secret_arn)
    every_method(in_process, f"{call_id}-k")
    in_process.close()  # anything the manager still had to send goes now
    assert (READ_SECRET, SECRET_ID) in recorder.calls
    assert_exactly("AgentPolicy", recorder.calls)


def test_validate_policy_is_what_checking_tokens_calls(
    managers: Callable[..., RemoteSessionManager], recorder: Recorder, stack: ServedStack, call_id: str
) -> None:
    validation_only(managers(), stack, call_id)
    validation_only(managers(secret_arn=stack.secret_arn), stack, call_id)
    assert_exactly("ValidatePolicy", recorder.calls)


def test_no_kms_grant_while_the_secret_uses_the_aws_managed_key() -> None:
    """Secrets Manager decrypts with aws/secretsmanager for any principal of the account allowed to
    read the secret; a customer key (KmsKeyId) would need kms:Decrypt on it in both policies."""
    secret = template.resource(SECRET_ID)["Properties"]
    assert "KmsKeyId" not in secret, "a customer key: grant kms:Decrypt on it in AgentPolicy and ValidatePolicy"
    for policy in ("AgentPolicy", "ValidatePolicy"):
        assert not [g for g in grants(policy) if g[0] == DECRYPT]


def test_outputs_name_both_policies() -> None:
    outputs = template.load()["Outputs"]
    assert outputs["AgentPolicyArn"]["Value"] == {"Ref": "AgentPolicy"}
    assert outputs["ValidatePolicyArn"]["Value"] == {"Ref": "ValidatePolicy"}
