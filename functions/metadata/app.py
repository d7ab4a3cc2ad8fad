"""GET, PATCH and DELETE /sessions/{call_id}/metadata: a session's metadata."""

from typing import Any

from session_core import config, inputs, schemas
from session_core.http import body, entry, path_call_id, resolver
from session_core.service import default_service

app = resolver()


@app.get("/sessions/<call_id>/metadata", **schemas.GET_METADATA)
def get_metadata(call_id: str) -> dict[str, Any]:
    call_id = path_call_id(app, call_id)
    return {"call_id": call_id, "metadata": default_service().get_metadata(call_id)}


@app.patch("/sessions/<call_id>/metadata", **schemas.MERGE_METADATA)
def merge_metadata(call_id: str) -> dict[str, Any]:
    call_id = path_call_id(app, call_id)
    session = default_service().merge_metadata(call_id, inputs.metadata_patch(body(app)))
    return {"call_id": call_id, "metadata": session.metadata}


@app.delete("/sessions/<call_id>/metadata", **schemas.DELETE_METADATA)
def delete_metadata(call_id: str) -> dict[str, Any]:
    return {"deleted": default_service().delete_metadata(path_call_id(app, call_id))}


lambda_handler = entry(app, requires=(config.TABLE,))
