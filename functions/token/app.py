"""POST /sessions/{call_id}/tokens: mint one function token, or a batch, for an active session."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from session_core import config, inputs, schemas
from session_core.http import body, entry, path_call_id, resolver
from session_core.service import default_service
from session_core.telemetry import metrics

app = resolver()


@app.post("/sessions/<call_id>/tokens", **schemas.MINT)
def mint_tokens(call_id: str) -> tuple[dict[str, Any], int]:
    call_id = path_call_id(app, call_id)
    request = body(app)
    names = inputs.function_names(request)
    service = default_service()
    lifetime = inputs.token_lifetime(request, service.config.max_token_lifetime_secs)
    minted, expires_at = service.mint(call_id, names, lifetime)
    metrics.add_metric(name="TokensMinted", unit=MetricUnit.Count, value=len(minted))
    if "function" in request:
        return {"call_id": call_id, "token": minted[names[0]], "expires_at": expires_at}, 201
    return {"call_id": call_id, "tokens": minted, "expires_at": expires_at}, 201


# trace=False: the hot path imports no X-Ray SDK.
lambda_handler = entry(app, requires=(config.TABLE, config.SIGNING_SECRET), trace=False)
