"""What the TypeScript client's tests need from this side: a local stack and the rules' vectors.

`node_env()` is the environment `npm test` reads (tests/client_ts/test_npm.py passes it). Run as
`python -m tests.support.node_stack` (what `npm test` does on its own when that environment is
absent), it starts a stack, prints the environment as one JSON line and stops the stack when its
standard input closes.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.served import ServedStack, running_stack
from tests.support import rule_vectors

# The stack the TypeScript tests run against: revocation on, so the service's verdict on a token
# also says whether the session accepts the token's incarnation.
STACK_SETTINGS: dict[str, Any] = {"REVOCATION_CHECK": "true"}


def node_env(stack: ServedStack, vectors_path: Path) -> dict[str, str]:
    return {
        "SWAIG_TEST_BASE_URL": stack.base_url,
        "SWAIG_TEST_AWS_ENDPOINT": stack.aws_endpoint,
        "SWAIG_TEST_SECRET_ARN": stack.secret_arn,
        "SWAIG_TEST_SIGNING_KEY": stack.signing_key,
        "SWAIG_TEST_REVOCATION": STACK_SETTINGS["REVOCATION_CHECK"],
        "SWAIG_TEST_VECTORS": str(vectors_path),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="swaig-node-") as folder, running_stack(**STACK_SETTINGS) as stack:
        path = rule_vectors.write(Path(folder) / "vectors.json")
        print(json.dumps(node_env(stack, path)), flush=True)
        sys.stdin.read()  # until the test run closes it


if __name__ == "__main__":
    main()
