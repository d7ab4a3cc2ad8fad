"""POST /tokens/validate: check a SWAIG function token; an invalid token is 200 with valid=false."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from session_core import config, inputs, schemas
from session_core.http import body, entry, resolver
from session_core.service import default_service
from session_core.telemetry import logger, metrics

app = resolver()


@app.post("/tokens/validate", **schemas.VALIDATE)
def validate_token() -> dict[str, Any]:
    request = body(app)
    call_id = inputs.call_id(inputs.require(request, "call_id"))
    logger.append_keys(call_id=call_id)
    function = inputs.function_name(inputs.require(request, "function"))
    token = inputs.token(inputs.require(request, "token"))
    verdict = default_service().validate(call_id, function, token)
    metrics.add_dimension(name="result", value=verdict.reason or "valid")
    metrics.add_metric(name="Validations", unit=MetricUnit.Count, value=1)
    if verdict.valid:
        return {"valid": True}
    logger.info("token rejected", reason=verdict.reason)
    return {"valid": False, "reason": verdict.reason}


# The revocation check reads the session too.
_REQUIRES = (config.SIGNING_SECRET, *((config.TABLE,) if config.settings().revocation_check else ()))
lambda_handler = entry(app, requires=_REQUIRES, trace=False)  # hot path: no X-Ray SDK import
