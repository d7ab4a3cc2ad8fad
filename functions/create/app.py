"""POST /sessions: start a call's session, or merge metadata into the active one."""

from typing import Any

from session_core import config, contract, inputs
from session_core.http import body, entry, logger, resolver
from session_core.service import default_service

app = resolver()


@app.post("/sessions", **contract.CREATE)
def create_session() -> tuple[dict[str, Any], int]:
    request = body(app)
    call_id = inputs.call_id(request["call_id"]) if request.get("call_id") is not None else None
    metadata = inputs.metadata(request.get("metadata", {}))
    session, created = default_service().create_session(call_id, metadata)
    logger.append_keys(call_id=session.call_id)
    logger.info("session created" if created else "session already active")
    return {"call_id": session.call_id, "expires_at": session.expires_at}, 201 if created else 200


lambda_handler = entry(app, requires=(config.TABLE,))
