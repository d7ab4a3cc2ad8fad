"""The validate function's published version (the `live` alias the API invokes) follows every change.

moto and `sam local` run `$LATEST`, so a version left behind shows nowhere else: the template is
expanded here with SAM's own translator, as CloudFormation expands it at deploy time, once per
variant (new layer contents, new code, a parameter changed), and the versions compared.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from tests.support.template import NoManagedPolicyNames, as_packaged, of_type
from tests.support.template import source as template_source

FUNCTION = "ValidateFunction"  # the one function behind an alias (AutoPublishAlias)
# Lambda refuses a version description longer than this.
MAX_DESCRIPTION = 256


@pytest.fixture(scope="module")
def packaged() -> dict[str, Any]:
    return as_packaged(template_source())


def expand(source: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resources CloudFormation deploys for `source` (the translator changes its input: a copy)."""
    return dict(transform(copy.deepcopy(source), parameters or {}, NoManagedPolicyNames())["Resources"])


def live_version(resources: dict[str, Any]) -> str:
    """The logical id of the version the validate function's alias points at."""
    (alias,) = of_type(resources, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["FunctionName"] == {"Ref": FUNCTION}
    version_id, attribute = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
    assert attribute == "Version" and resources[version_id]["Type"] == "AWS::Lambda::Version"
    return str(version_id)


def with_content(packaged: dict[str, Any], logical_id: str, uri: str) -> dict[str, Any]:
    changed = copy.deepcopy(packaged)
    props = changed["Resources"][logical_id]["Properties"]
    props["ContentUri" if "ContentUri" in props else "CodeUri"] = uri
    return changed


def test_the_same_template_names_the_same_version(packaged: dict[str, Any]) -> None:
    assert live_version(expand(packaged)) == live_version(expand(packaged))


def test_a_layer_only_change_publishes_a_new_version(packaged: dict[str, Any]) -> None:
    """The logic is in the layer: new layer contents, same function code, must move `live`."""
    (layer_id,) = of_type(packaged["Resources"], "AWS::Serverless::LayerVersion")
    before = live_version(expand(packaged))
    after = live_version(expand(with_content(packaged, layer_id, "s3://deployment-bucket/other-layer.zip")))
    assert after != before


def test_a_code_change_publishes_a_new_version(packaged: dict[str, Any]) -> None:
    before = live_version(expand(packaged))
    after = live_version(expand(with_content(packaged, FUNCTION, "s3://deployment-bucket/other-code.zip")))
    assert after != before


def parameters_in(value: Any, names: set[str]) -> Iterator[str]:
    """Parameters `value` reads, through Ref or Fn::Sub, at any depth."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str) and value["Ref"] in names:
            yield value["Ref"]
        sub = value.get("Fn::Sub")
        if sub is not None:
            text = sub if isinstance(sub, str) else sub[0]
            yield from (name for name in re.findall(r"\$\{([^}!.]+)\}", text) if name in names)
        for item in value.values():
            yield from parameters_in(item, names)
    elif isinstance(value, list):
        for item in value:
            yield from parameters_in(item, names)


def test_every_parameter_the_configuration_reads_replaces_the_version(packaged: dict[str, Any]) -> None:
    """SAM hashes parameter references as written, so a new value alone would leave `live` behind.

    Each parameter the function's configuration or its layer reads is in the version's
    description instead; a new description replaces the version, which publishes a new one.
    Expanded with tracing on, since SAM leaves the tracing setting out when it is Disabled.
    """
    resources = expand(packaged, {"Tracing": "Active"})
    names = set(packaged["Parameters"])
    # The layer as written: SAM resolves its name's parameters in what it emits, not in the hash.
    (layer,) = of_type(packaged["Resources"], "AWS::Serverless::LayerVersion").values()
    read = set(parameters_in(resources[FUNCTION]["Properties"], names))
    read |= set(parameters_in(layer["Properties"], names))
    assert {"RevocationCheck", "TokenExpirySecs", "Stage", "Tracing"} <= read  # the walk finds what it should
    description = resources[live_version(resources)]["Properties"]["Description"]
    assert read <= set(parameters_in(description, names))


def test_the_version_description_fits(packaged: dict[str, Any]) -> None:
    """At the longest value each parameter allows (or a generous one where unbounded)."""
    resources = expand(packaged)
    text = resources[live_version(resources)]["Properties"]["Description"]["Fn::Sub"]
    widest = {"Stage": "x" * 16, "LogLevel": "WARNING", "DebugMode": "false", "RevocationCheck": "false"}
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: widest.get(m.group(1), "9" * 10), text)
    assert len(rendered) <= MAX_DESCRIPTION, rendered
