"""template.yaml as CloudFormation deploys it: translated by the SAM transform, then checked.

The translation is the one CloudFormation runs at deploy time (samtranslator's
`transform`), on the template as `sam package` uploads it (local code folders replaced
by S3 locations). Checks: IAM auth on every route, least-privilege roles, the table
and index matching session_core.store, safe parameter defaults, runtime, layer, schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from session_core.store import EXPIRY_INDEX, Attr

from local import template
from tests.support.template import NoManagedPolicyNames, as_packaged, of_type

# The HTTP contract's routes (docs/api.md) and the function serving each.
ROUTES = {
    ("POST", "/sessions"): "CreateFunction",
    ("POST", "/sessions/{call_id}/tokens"): "TokenFunction",
    ("POST", "/tokens/validate"): "ValidateFunction",
    ("POST", "/tokens/debug"): "DebugFunction",
    ("GET", "/sessions/{call_id}/metadata"): "MetadataFunction",
    ("PATCH", "/sessions/{call_id}/metadata"): "MetadataFunction",
    ("DELETE", "/sessions/{call_id}/metadata"): "MetadataFunction",
    ("DELETE", "/sessions/{call_id}"): "EndFunction",
}

# Each function's role: exactly these actions, nothing else.
ACTIONS = {
    "CreateFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"},
    "TokenFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"},
    "ValidateFunction": {"dynamodb:GetItem", "secretsmanager:GetSecretValue"},
    "DebugFunction": set(),
    "MetadataFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "EndFunction": {"dynamodb:UpdateItem"},
    "CleanupFunction": {"dynamodb:Query", "dynamodb:DeleteItem"},
    "RotateFunction": {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:GetRandomPassword",
    },
}
# Actions IAM defines on no resource type, so a statement for them can only name "*".
RESOURCELESS = {("RotateFunction", "secretsmanager:GetRandomPassword")}
MANAGED_POLICIES = {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}  # its own log group
XRAY_POLICY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"  # only with the Tracing parameter on
TABLE_ARN = {"Fn::GetAtt": ["SessionsTable", "Arn"]}
INDEX_ARN = {"Fn::Sub": "${SessionsTable.Arn}/index/" + EXPIRY_INDEX}
SECRET_REF = {"Ref": "SigningKeySecret"}


@pytest.fixture(scope="module")
def resources(source: dict[str, Any]) -> dict[str, Any]:
    """The translated template's resources (parameters at their defaults, as a plain deploy)."""
    translated = transform(as_packaged(source), {}, NoManagedPolicyNames())
    assert "Transform" not in translated
    return dict(translated["Resources"])


def listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def role_of(resources: dict[str, Any], function_id: str) -> dict[str, Any]:
    role_ref = resources[function_id]["Properties"]["Role"]
    return resources[role_ref["Fn::GetAtt"][0]]


def invoked_function(resources: dict[str, Any], uri: str) -> str:
    """The function an integration URI invokes: `${Fn.Arn}` directly, or `${FnAliaslive}` through an alias."""
    target = uri.split("functions/${", 1)[1].split("}", 1)[0].removesuffix(".Arn")
    if resources[target]["Type"] == "AWS::Lambda::Alias":
        return str(resources[target]["Properties"]["FunctionName"]["Ref"])
    return target


# --- API: every route signed with SigV4 -------------------------------------------------------


def test_every_route_requires_iam_auth(resources: dict[str, Any]) -> None:
    apis = of_type(resources, "AWS::ApiGatewayV2::Api")
    assert len(apis) == 1
    body = next(iter(apis.values()))["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    found = {}
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") == [{"AWS_IAM": []}], (method, path)
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            found[(method.upper(), path)] = invoked_function(resources, uri)
    assert found == ROUTES  # no extra route (no $default, no ANY) and each to its function
    for route in of_type(resources, "AWS::ApiGatewayV2::Route").values():  # none today; if ever added
        assert route["Properties"].get("AuthorizationType") == "AWS_IAM"


def test_functions_are_invoked_only_by_this_api_or_secrets_manager(resources: dict[str, Any]) -> None:
    for logical_id, permission in of_type(resources, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        if props["Principal"] == "apigateway.amazonaws.com":
            template_string, names = props["SourceArn"]["Fn::Sub"]
            assert ":${__ApiId__}/" in template_string and names["__ApiId__"] == {"Ref": "HttpApi"}, logical_id
        else:
            assert (props["Principal"], props["SourceArn"]) == ("secretsmanager.amazonaws.com", SECRET_REF)


# --- IAM: least privilege -----------------------------------------------------------------------


def test_function_roles_have_exactly_the_expected_actions(resources: dict[str, Any]) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    assert set(functions) == set(ACTIONS)
    for function_id, expected in ACTIONS.items():
        role = role_of(resources, function_id)
        actions = {a for s in statements(role) for a in listify(s["Action"])}
        assert actions == expected, function_id
        assert set(role["Properties"]["ManagedPolicyArns"]) == MANAGED_POLICIES, function_id
        assume = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in assume] == [{"Service": ["lambda.amazonaws.com"]}]


def test_no_wildcard_action_and_every_resource_scoped(resources: dict[str, Any]) -> None:
    checked = 0
    for role_id, role in of_type(resources, "AWS::IAM::Role").items():
        owner = role_id.removesuffix("Role")
        for statement in statements(role):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in listify(statement["Action"]):
                assert "*" not in action, (role_id, action)
                checked += 1
            for resource in listify(statement["Resource"]):
                if resource == "*":
                    assert all((owner, a) in RESOURCELESS for a in listify(statement["Action"])), role_id
    assert checked > 0


def test_resources_are_the_table_index_and_secret(resources: dict[str, Any]) -> None:
    for function_id in ACTIONS:
        for statement in statements(role_of(resources, function_id)):
            for action in listify(statement["Action"]):
                resource = statement["Resource"]
                if (function_id, action) in RESOURCELESS:
                    continue
                if action == "dynamodb:Query":
                    assert resource == INDEX_ARN, function_id
                elif action.startswith("dynamodb:"):
                    assert resource == TABLE_ARN, (function_id, action)
                else:
                    assert resource == SECRET_REF, (function_id, action)


def test_schedule_role_invokes_only_cleanup(resources: dict[str, Any]) -> None:
    (schedule,) = of_type(resources, "AWS::Scheduler::Schedule").values()
    role = resources[schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]]
    assert list(statements(role)) == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["CleanupFunction", "Arn"]}}
    ]


# --- Data: the table the store expects --------------------------------------------------------


def test_table_matches_the_store(resources: dict[str, Any]) -> None:
    (table,) = of_type(resources, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": Attr.EXPIRES_AT, "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": Attr.KEY, "KeyType": "HASH"}]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == EXPIRY_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": Attr.BUCKET, "KeyType": "HASH"},
        {"AttributeName": Attr.EXPIRES_AT, "KeyType": "RANGE"},
    ]
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert types == {Attr.KEY: "S", Attr.BUCKET: "S", Attr.EXPIRES_AT: "N"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionPolicy"] == "Retain"


# --- Parameters, runtime, layer, schedule -----------------------------------------------------


def test_risky_switches_default_off(source: dict[str, Any]) -> None:
    params = source["Parameters"]
    assert params["DebugMode"]["Default"] == "false"
    assert params["RevocationCheck"]["Default"] == "false"
    assert params["CleanupSchedule"]["Default"] == "rate(15 minutes)"
    assert params["TokenExpirySecs"]["Default"] == 900


def test_every_function_gets_the_settings(resources: dict[str, Any]) -> None:
    for function_id, function in of_type(resources, "AWS::Lambda::Function").items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["DEBUG_MODE"] == {"Ref": "DebugMode"}, function_id
        assert env["REVOCATION_CHECK"] == {"Ref": "RevocationCheck"}, function_id
        assert env["TOKEN_EXPIRY_SECS"] == {"Ref": "TokenExpirySecs"}, function_id
        assert env["TABLE_NAME"] == {"Ref": "SessionsTable"}, function_id
        assert env["SIGNING_SECRET_ID"] == SECRET_REF, function_id


def test_runtime_and_layer(source: dict[str, Any], resources: dict[str, Any]) -> None:
    (layer_id,) = of_type(resources, "AWS::Lambda::LayerVersion")
    for function_id, function in of_type(resources, "AWS::Lambda::Function").items():
        props = function["Properties"]
        assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"]), function_id
        assert props["Layers"] == [{"Ref": layer_id}], function_id
        assert "TracingConfig" not in props, function_id  # the Tracing parameter's default: Disabled
        assert props["Handler"] == "app.lambda_handler", function_id
    layer = resources[layer_id]["Properties"]
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.13"], ["arm64"])
    (source_layer,) = (r for r in source["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion")
    assert source_layer["Metadata"]["BuildMethod"] == "python3.13"
    assert source_layer["Metadata"].get("BuildArchitecture", "arm64") == "arm64"
    content = template.ROOT / source_layer["Properties"]["ContentUri"]
    assert (content / "requirements.txt").is_file() and (content / "session_core" / "__init__.py").is_file()


@pytest.mark.parametrize("mode", ["Active", "PassThrough"])
def test_tracing_follows_the_parameter(source: dict[str, Any], mode: str) -> None:
    """Off by default (its cost is in docs/operations.md); on, every function traces and may write to X-Ray."""
    assert source["Parameters"]["Tracing"]["Default"] == "Disabled"
    assert source["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}
    traced = dict(transform(as_packaged(source), {"Tracing": mode}, NoManagedPolicyNames())["Resources"])
    for function_id, function in of_type(traced, "AWS::Lambda::Function").items():
        assert function["Properties"]["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}, function_id
        policies = set(role_of(traced, function_id)["Properties"]["ManagedPolicyArns"])
        assert policies == MANAGED_POLICIES | {XRAY_POLICY}, function_id


def test_code_folders_exist(source: dict[str, Any]) -> None:
    for logical_id, res in source["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            assert (template.ROOT / Path(res["Properties"]["CodeUri"]) / "app.py").is_file(), logical_id


def test_cleanup_schedule(resources: dict[str, Any]) -> None:
    (schedule,) = of_type(resources, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "CleanupSchedule"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["CleanupFunction", "Arn"]}
    assert props["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}  # the next run retries anyway
    assert "Name" not in props  # a fixed name would collide when a second stack deploys


def test_signing_key_is_generated_and_rotated(resources: dict[str, Any]) -> None:
    (secret,) = of_type(resources, "AWS::SecretsManager::Secret").values()
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]  # no key in the template
    (rotation,) = of_type(resources, "AWS::SecretsManager::RotationSchedule").values()
    assert rotation["Properties"]["SecretId"] == SECRET_REF
    assert rotation["Properties"]["RotationLambdaARN"] == {"Fn::GetAtt": ["RotateFunction", "Arn"]}
