"""docs/deploy.md's least-privilege deployer policy grants what deploying this template takes.

What CloudFormation calls for each resource type is in the type's registry schema (`handlers`,
the same schemas `aws cloudformation describe-type` returns; cfn-lint ships them). For every type
the translated template creates, each handler permission must be granted, unless it serves a
feature the template does not use (listed below, with why). What SAM and the services ask of the
caller themselves is checked beside it.
"""

from __future__ import annotations

import copy
import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
from samtranslator.translator.transform import transform

from local import template
from tests.support.template import NoManagedPolicyNames, as_packaged, of_type
from tests.support.template import source as template_source

DEPLOY_DOC = template.ROOT / "docs" / "deploy.md"
HANDLERS = ("create", "read", "update", "delete")
# Services whose handler permissions serve only features this template does not use.
UNUSED_SERVICES = {
    "codedeploy": "gradual alias deployments (DeploymentPreference)",
    "ec2": "functions in a VPC",
    "elasticfilesystem": "file systems mounted in functions",
    "s3files": "file systems mounted in functions",
    "kinesis": "DynamoDB's Kinesis streaming",
    "firehose": "log delivery to Firehose",
    "kms": "customer managed keys (the AWS managed keys' own policies let the services use them)",
}
UNUSED_ACTIONS = {
    "dynamodb:createtablereplica": "global tables",
    "dynamodb:associatetablereplica": "global tables",
    "iam:createservicelinkedrole": "global tables and replicas",
    "dynamodb:importtable": "tables imported from S3",
    "dynamodb:describeimport": "tables imported from S3",
    "dynamodb:enablekinesisstreamingdestination": "Kinesis streaming",
    "dynamodb:disablekinesisstreamingdestination": "Kinesis streaming",
    "dynamodb:updatekinesisstreamingdestination": "Kinesis streaming",
    "secretsmanager:replicatesecrettoregions": "secret replication",
    "secretsmanager:removeregionsfromreplication": "secret replication",
    "lambda:passcapacityprovider": "functions on capacity providers",
    "s3:getobjectmetadata": "not an IAM action (HeadObject needs s3:GetObject, granted)",
    "s3:rest.put.object": "not an IAM action",
    "iam:attachgrouppolicy": "managed policies the stack attaches to groups (users attach its agent policies)",
    "iam:detachgrouppolicy": "managed policies the stack attaches to groups",
    "iam:attachuserpolicy": "managed policies the stack attaches to users",
    "iam:detachuserpolicy": "managed policies the stack attaches to users",
}
# Left out on purpose: CloudFormation never calls them (the resources are retained).
RETAINED_DELETES = {"dynamodb:deletetable", "secretsmanager:deletesecret"}


def deployer_policy() -> dict[str, Any]:
    section = DEPLOY_DOC.read_text().split("## A least-privilege deployer", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block, "no policy in the deployer section"
    return dict(json.loads(block.group(1)))


def statements_granting(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The statements whose actions cover `action` (IAM matches actions case-insensitively)."""
    found = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(fnmatchcase(action.lower(), pattern.lower()) for pattern in actions):
            found.append(statement)
    return found


def expand(parameters: dict[str, str]) -> dict[str, Any]:
    """The translated template's resources and those of its nested stack (no transform there)."""
    source = as_packaged(template_source())
    resources = dict(transform(copy.deepcopy(source), parameters, NoManagedPolicyNames())["Resources"])
    nested = template.application("Monitoring")["Resources"]
    assert not set(nested) & set(resources)
    return {**resources, **nested}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    """Every resource the template can create: the email topic and its policy, tracing on."""
    return expand({"AlarmEmail": "ops@example.com", "Tracing": "Active"})


def handler_permissions(kind: str) -> set[str]:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema
    return {p.lower() for h in HANDLERS for p in schema["handlers"].get(h, {}).get("permissions", [])}


def test_every_handler_permission_of_every_resource_type_is_granted(resources: dict[str, Any]) -> None:
    policy = deployer_policy()
    kinds = sorted({r["Type"] for r in resources.values()})
    assert "AWS::Events::Rule" in kinds and "AWS::SNS::TopicPolicy" in kinds  # the optional ones too
    assert "AWS::CloudFormation::Stack" in kinds  # the nested Monitoring
    missing: dict[str, list[str]] = {}
    for kind in kinds:
        for action in sorted(handler_permissions(kind)):
            service = action.split(":")[0]
            if service in UNUSED_SERVICES or action in UNUSED_ACTIONS or action in RETAINED_DELETES:
                continue
            if not statements_granting(policy, action):
                missing.setdefault(kind, []).append(action)
    assert not missing, missing


def test_what_sam_and_the_services_ask_of_the_caller_is_granted() -> None:
    policy = deployer_policy()
    (transform_grant,) = [
        s for s in statements_granting(policy, "cloudformation:CreateChangeSet") if "transform" in str(s["Resource"])
    ]
    assert transform_grant["Resource"].endswith(":aws:transform/Serverless-2016-10-31")
    for action in (
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DeleteStack",  # sam delete
        "s3:PutObject",  # sam deploy's upload of the code and template
        "s3:DeleteObject",  # sam delete
        "logs:FilterLogEvents",  # sam logs
        "logs:StartLiveTail",  # sam logs --tail
        # API Gateway sets up access logging as the caller (docs: HTTP API logging permissions).
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        # Secrets Manager checks the caller may invoke the rotation function.
        "lambda:InvokeFunction",
    ):
        assert statements_granting(policy, action), action


def test_roles_are_passed_only_to_the_services_that_assume_them(resources: dict[str, Any]) -> None:
    policy = deployer_policy()
    (grant,) = statements_granting(policy, "iam:PassRole")
    passed_to = set(grant["Condition"]["StringEquals"]["iam:PassedToService"])
    principals = {
        service
        for role in of_type(resources, "AWS::IAM::Role").values()
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        for service in statement["Principal"]["Service"]
    }
    assert principals == passed_to == {"lambda.amazonaws.com", "scheduler.amazonaws.com"}


def test_roles_get_only_the_managed_policies_the_template_attaches(resources: dict[str, Any]) -> None:
    policy = deployer_policy()
    (grant,) = statements_granting(policy, "iam:AttachRolePolicy")
    allowed = set(grant["Condition"]["ArnEquals"]["iam:PolicyARN"])
    attached = {
        arn
        for role in of_type(resources, "AWS::IAM::Role").values()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    }
    assert attached == allowed


def test_the_retained_resources_cannot_be_deleted_by_the_deployer() -> None:
    source = template_source()["Resources"]
    policy = deployer_policy()
    retained = {r["Type"] for r in source.values() if r.get("DeletionPolicy") == "Retain"}
    assert retained == {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"}
    for kind in retained:
        deletes = {
            a for a in handler_permissions(kind) if a.split(":")[1].startswith("delete") and a in RETAINED_DELETES
        }
        assert deletes, kind
        for action in deletes:
            assert not statements_granting(policy, action), action


def test_the_layer_statement_names_the_template_s_layer() -> None:
    source = template_source()["Resources"]
    (layer,) = of_type(source, "AWS::Serverless::LayerVersion").values()
    name = re.sub(r"\$\{[^}]+\}", "*", layer["Properties"]["LayerName"]["Fn::Sub"])
    (grant,) = statements_granting(deployer_policy(), "lambda:PublishLayerVersion")
    assert any(fnmatchcase(f"arn:aws:lambda:<region>:<account-id>:layer:{name}", r) for r in grant["Resource"])


def test_the_nested_stack_statement_names_the_monitoring_stack() -> None:
    """CloudFormation names a nested stack <root stack>-<its logical id>-<suffix>."""
    (nested_id,) = of_type(template_source()["Resources"], "AWS::Serverless::Application")
    (grant,) = statements_granting(deployer_policy(), "cloudformation:CreateStack")
    name = f"<stack-name>-{nested_id}-abc123"
    assert fnmatchcase(f"arn:aws:cloudformation:<region>:<account-id>:stack/{name}/guid", grant["Resource"])
