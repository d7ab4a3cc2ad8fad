"""client-ts's package: every dependency pinned to one version, and the lock holding exactly those.

`npm ci` installs the lock; a range in package.json would let `npm install` move a dependency
silently, and a lock out of step with package.json makes `npm ci` fail. No node needed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.node import CLIENT_TS

EXACT = re.compile(r"\d+\.\d+\.\d+")


def _json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CLIENT_TS / name).read_text())
    return loaded


def test_every_dependency_is_pinned_and_locked_at_that_version() -> None:
    package, lock = _json("package.json"), _json("package-lock.json")
    declared = {**package["dependencies"], **package["devDependencies"]}
    assert declared, "no dependencies read"
    root = lock["packages"][""]
    assert {**root["dependencies"], **root["devDependencies"]} == declared
    for name, version in declared.items():
        assert EXACT.fullmatch(version), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def test_an_esm_package_with_its_types_for_node_20() -> None:
    package = _json("package.json")
    assert package["type"] == "module"
    assert package["exports"]["."] == {"types": "./dist/index.d.ts", "import": "./dist/index.js"}
    assert package["engines"]["node"] == ">=20"
    tsconfig = _json("tsconfig.json")["compilerOptions"]
    assert tsconfig["strict"] is True and tsconfig["declaration"] is True
