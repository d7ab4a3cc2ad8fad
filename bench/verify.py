"""Case `verify`: the core token check against the SDK's validate_token, with a bare HMAC (the floor) beside it.

The target is a ratio to the SDK, not to the floor: the check parses every field strictly (what
makes a token's reading unambiguous) where the SDK checks no shape, so it is allowed a quarter
more. The floor row shows how much of either is the one HMAC-SHA256 neither can skip.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from signalwire.core.security.session_manager import SessionManager

from .report import CaseResult, Row
from .stack import use_shared
from .timing import interleave, ratio, timed

CALL_ID = "bench-call-0001"
FUNCTION = "get_weather"
TARGET_VS_SDK = 1.25


def run(*, rounds: int, batch: int) -> CaseResult:
    use_shared()
    from session_rules import tokens

    secret = "k" * 64  # the template's secret length
    key = secret.encode()
    sdk = SessionManager(secret_key=secret)
    token = sdk.create_tool_token(FUNCTION, CALL_ID)
    fields = tokens.decode(token)
    assert fields is not None
    message = f"{fields[0]}:{fields[1]}:{fields[2]}:{fields[3]}".encode()
    keys = (key,)
    verify = tokens.verify
    if not (verify(keys, CALL_ID, FUNCTION, token, time.time()).valid and sdk.validate_token(CALL_ID, FUNCTION, token)):
        raise RuntimeError("the SDK's token does not validate on both sides")

    # Each side reads the clock itself, as it does in service: the SDK calls time.time() inside.
    measured = interleave(
        {
            "ours": lambda n: timed(lambda: verify(keys, CALL_ID, FUNCTION, token, time.time()), n),
            "sdk": lambda n: timed(lambda: sdk.validate_token(CALL_ID, FUNCTION, token), n),
            "floor": lambda n: timed(lambda: hmac.new(key, message, hashlib.sha256).hexdigest(), n),
        },
        rounds=rounds,
        batch=batch,
    )
    ours, sdk_t, floor = (measured[name].wall for name in ("ours", "sdk", "floor"))
    return CaseResult(
        "verify",
        {
            "unit": "us",
            "ours": ours.scaled(1e6),
            "sdk": sdk_t.scaled(1e6),
            "floor": floor.scaled(1e6),
            "ratio_vs_sdk": round(ratio(ours.median, sdk_t.median), 4),
            "ratio_vs_floor": round(ratio(ours.median, floor.median), 4),
            "calls_per_sample": batch,
        },
        [
            Row("verify", round(ours.median * 1e6, 3), round(sdk_t.median * 1e6, 3), "us", TARGET_VS_SDK),
            Row.reference("verify_floor_hmac", round(floor.median * 1e6, 3), round(sdk_t.median * 1e6, 3), "us"),
        ],
    )
