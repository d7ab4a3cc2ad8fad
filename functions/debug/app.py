"""POST /tokens/debug: the SDK's debug_token view of a token; 403 unless DEBUG_MODE is on."""

from typing import Any

from session_core import inputs, schemas
from session_core.http import body, entry, resolver
from session_core.service import default_service

app = resolver()


@app.post("/tokens/debug", **schemas.DEBUG)
def debug_token() -> dict[str, Any]:
    view = default_service().debug_view()  # 403 whatever the body holds
    return view(inputs.token(inputs.require(body(app), "token")))


lambda_handler = entry(app)
