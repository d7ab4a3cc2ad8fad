"""What each sample event in events/ answers on a freshly provisioned stack: the handler tests
run it in-process, the sam CLI test under `sam local invoke` where that can run."""

from __future__ import annotations

from typing import Any

# event file -> (function, status on a fresh stack, fields the body must contain).
# Derived from the HTTP contract; status None: not an HTTP event.
EXPECTED: dict[str, tuple[str, int | None, dict[str, Any]]] = {
    "create.json": ("create", 201, {"call_id": "example-call-0001"}),
    "token.json": ("token", 404, {"error": "session_not_found"}),  # 201 once create.json ran
    # The sample token expires in 2100: beyond the maximum lifetime, so refused before its signature.
    "validate.json": ("validate", 200, {"valid": False, "reason": "lifetime_exceeded"}),
    "debug.json": ("debug", 403, {"error": "debug_disabled", "message": "debug mode not enabled"}),
    "metadata-get.json": ("metadata", 200, {"call_id": "example-call-0001", "metadata": {}}),
    "metadata-patch.json": ("metadata", 200, {"call_id": "example-call-0001", "metadata": {"language": "en-US"}}),
    "metadata-delete.json": ("metadata", 200, {"deleted": False}),
    "end.json": ("end", 200, {"ended": False}),
    "cleanup.json": ("cleanup", None, {"deleted": 0, "examined": 0}),
    "rotate.json": ("rotate", None, {}),  # createSecret: stages a new key as AWSPENDING, returns null
}
