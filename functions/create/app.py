"""POST /sessions: start a call's session, or merge metadata into the active one; optionally mint its tokens.

With `functions`, the answer also carries the session's tokens for them, so an agent's call
setup (a session and a token per tool) is one request. `token_expiry_secs` sets their lifetime;
`incarnation` is a client's own, for the tokens it mints with the signing key.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from session_core import config, inputs, schemas
from session_core.http import body, entry, resolver
from session_core.service import default_service
from session_core.telemetry import logger, metrics

app = resolver()


@app.post("/sessions", **schemas.CREATE)
def create_session() -> tuple[dict[str, Any], int]:
    request = body(app)
    call_id = inputs.call_id(request["call_id"]) if request.get("call_id") is not None else None
    metadata = inputs.metadata(request.get("metadata", {}))
    functions = inputs.function_names(request) if {"function", "functions"} & request.keys() else []
    restart = inputs.flag(request, "restart", default=True)
    incarnation = inputs.incarnation(request)
    service = default_service()
    lifetime = inputs.token_lifetime(request, service.config.max_token_lifetime_secs)
    session, created, minted = service.start(
        call_id, metadata, functions, restart=restart, incarnation=incarnation, lifetime=lifetime
    )
    logger.append_keys(call_id=session.call_id)
    logger.info("session created" if created else "session already active")
    reply: dict[str, Any] = {"call_id": session.call_id, "expires_at": session.expires_at}
    if minted is not None:
        reply["tokens"], reply["tokens_expire_at"] = minted
        metrics.add_metric(name="TokensMinted", unit=MetricUnit.Count, value=len(functions))
    return reply, 201 if created else 200


lambda_handler = entry(app, requires=(config.TABLE, config.SIGNING_SECRET))
