"""The SAM CLI accepts the template, builds it, and the built artifacts run on their own.

`sam build` (BuildMethod python3.13, arm64) needs python3.13 on PATH and PyPI for the
layer's wheels. Each built function is then imported in a fresh interpreter whose only
import path is what Lambda gives it: the function's folder, the layer's `python/`
folder, and the packages the python3.13 runtime ships. A layer packaged in the wrong
folder, or a handler importing something neither ships, fails here, not after deploy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from local import aws, template
from local.moto_server import MotoServer
from tests.support.events import EXPECTED

SAM = Path(sys.executable).with_name("sam")
PYTHON313 = Path(os.path.realpath(sys.executable))  # the interpreter the venv was made from
# What the Lambda python3.13 runtime ships besides the standard library.
RUNTIME_PACKAGES = ["boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six"]
SAM_TIMEOUT_SECS = 600
RUN_TIMEOUT_SECS = 60
ELF_MACHINE_AARCH64 = 183  # e_machine of an arm64 shared object (EM_AARCH64)

# Imports one built handler with nothing but Lambda's import path and answers one event.
RUN_BUILT = r"""
import json, sys, types
function_dir, layer_dir, runtime_dir, event_file = sys.argv[1:5]
sys.path[:0] = [function_dir, layer_dir, runtime_dir]
import app, session_core, aws_lambda_powertools, boto3
where = {m.__name__: m.__file__ for m in (app, session_core, aws_lambda_powertools, boto3)}
context = types.SimpleNamespace(
    function_name="built", memory_limit_in_mb=256, aws_request_id="req-1", function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:built",
    log_group_name="/aws/lambda/built", log_stream_name="built",
    get_remaining_time_in_millis=lambda: 5000,
)
result = app.lambda_handler(json.load(open(event_file)), context)
print("RESULT " + json.dumps({"where": where, "result": result}))
"""


FUNCTIONS = template.functions({aws.TABLE_ID: "table", aws.SECRET_ID: "secret"})


def sam_env() -> dict[str, str]:
    """The venv's tools and python3.13 first on PATH (as the Makefile sets it), fake credentials."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(SAM.parent), str(PYTHON313.parent), env.get("PATH", "")])
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    env.pop("AWS_PROFILE", None)
    return env


def sam(*args: str, cwd: Path = template.ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAM), *args],
        cwd=cwd,
        env=sam_env(),
        capture_output=True,
        text=True,
        timeout=SAM_TIMEOUT_SECS,
        check=False,
    )


def test_python313_is_what_sam_build_finds() -> None:
    found = shutil.which("python3.13", path=sam_env()["PATH"])
    assert found, "sam build (BuildMethod python3.13) needs python3.13 on PATH"
    version = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == "(3, 13)"


def test_sam_validate_lint() -> None:
    result = sam("validate", "--lint", "--template-file", str(template.TEMPLATE), "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate() -> None:
    result = sam("validate", "--template-file", str(template.TEMPLATE), "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` of the template into a temporary folder."""
    out = tmp_path_factory.mktemp("sam") / "build"
    result = sam("build", "--template-file", str(template.TEMPLATE), "--build-dir", str(out), "--region", "us-east-1")
    assert result.returncode == 0, result.stdout + result.stderr
    # Each function folder has its (empty) requirements.txt: no "file not found" line per function.
    assert "requirements.txt file not found" not in result.stdout + result.stderr
    return out


def test_build_output_has_every_function_and_the_layer(build_dir: Path) -> None:
    for fn in FUNCTIONS.values():
        assert (build_dir / fn.logical_id / "app.py").is_file(), fn.logical_id
    layer = build_dir / "CoreLayer" / "python"
    assert (layer / "session_core" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools" / "__init__.py").is_file()
    assert (layer / "aws_xray_sdk" / "__init__.py").is_file()  # the [tracer] extra
    # The layer ships its own boto3/botocore pair (shared/requirements.txt): aws-xray-sdk pulls a
    # botocore in, and it must be one the boto3 beside it accepts, whatever the runtime's is.
    dists = {d.metadata["Name"].lower(): d for d in distributions(path=[str(layer)])}
    (wanted,) = [Requirement(r) for r in dists["boto3"].requires or [] if r.startswith("botocore") and "extra" not in r]
    assert wanted.specifier.contains(dists["botocore"].version), (wanted, dists["botocore"].version)


def test_the_build_carries_the_monitoring_template(build_dir: Path) -> None:
    """`sam build` copies the nested application's template beside the functions (`sam package` uploads it)."""
    built = template.load(build_dir / "template.yaml")
    location = build_dir / template.resource("Monitoring", built)["Properties"]["Location"]
    assert template.load(location) == template.application("Monitoring")


def test_the_layer_s_native_code_is_what_deploy_md_names_and_built_for_arm64(build_dir: Path) -> None:
    """docs/deploy.md says which package of the layer is native (no Docker needed only while PyPI has its wheel)."""
    layer = build_dir / "CoreLayer" / "python"
    native = sorted(layer.rglob("*.so"))
    packages = {path.relative_to(layer).parts[0] for path in native}
    assert packages == {"wrapt"}, packages
    build_doc = (template.ROOT / "docs" / "deploy.md").read_text().split("## First deploy", 1)[0]
    assert all(f"`{package}`" in build_doc for package in packages)
    for path in native:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, path


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    """A folder with only the packages the Lambda runtime ships (links into this venv)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in RUNTIME_PACKAGES:
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.origin is not None, name
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            (Path(tmp) / source.name).symlink_to(source)
        yield Path(tmp)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with MotoServer(aws.HOST) as moto:  # binds its own free port: no window for another process to take it
        yield moto.endpoint


def first_event_of(name: str) -> tuple[str, int | None, dict[str, Any]]:
    for event_file, (function, status, fields) in EXPECTED.items():
        if function == name:
            return event_file, status, fields
    raise LookupError(f"no event for {name} in events/")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_built_function_answers_its_event(
    name: str, build_dir: Path, runtime_dir: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    made = aws.provision(*aws.clients(moto_endpoint), stage=f"built-{name}")  # a fresh stack each
    fn = template.functions(made.refs())[name]
    event_file, status, fields = first_event_of(name)
    event = json.loads((template.ROOT / "events" / event_file).read_text())
    if "SecretId" in event:
        event["SecretId"] = made.secret_id
    (tmp_path / "event.json").write_text(json.dumps(event))

    env = {
        **fn.environment,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": os.environ.get("PATH", ""),
    }
    function_dir, layer_dir = build_dir / fn.logical_id, build_dir / "CoreLayer" / "python"
    argv = [str(PYTHON313), "-I", "-S", "-c", RUN_BUILT, str(function_dir), str(layer_dir), str(runtime_dir)]
    run = subprocess.run(
        [*argv, str(tmp_path / "event.json")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECS,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    answer = json.loads(line.removeprefix("RESULT "))

    where = answer["where"]
    assert where["app"].startswith(str(function_dir))
    assert where["session_core"].startswith(str(layer_dir))
    assert where["aws_lambda_powertools"].startswith(str(layer_dir))
    assert where["boto3"].startswith(str(layer_dir))  # the layer precedes the runtime, as in Lambda

    result = answer["result"]
    if status is not None:
        assert result["statusCode"] == status, result
        result = json.loads(result["body"])
    elif not fields:
        assert result is None
    assert {k: result.get(k) for k in fields} == fields, result
