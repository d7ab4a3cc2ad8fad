"""DELETE /sessions/{call_id}: end a session; its tokens stop validating when REVOCATION_CHECK is on."""

from typing import Any

from session_core import config, schemas
from session_core.http import entry, path_call_id, resolver
from session_core.service import default_service
from session_core.telemetry import logger

app = resolver()


@app.delete("/sessions/<call_id>", **schemas.END)
def end_session(call_id: str) -> dict[str, Any]:
    ended = default_service().end_session(path_call_id(app, call_id))
    logger.info("session ended" if ended else "no active session to end")
    return {"ended": ended}


lambda_handler = entry(app, requires=(config.TABLE,))
