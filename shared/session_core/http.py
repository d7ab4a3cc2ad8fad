"""What every API handler shares: the resolver with JSON errors, the request's body and path, the Lambda entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from botocore.exceptions import BotoCoreError, ClientError
from session_rules.codes import ErrorCode

from . import failures, inputs
from .errors import BadRequest, KeyUnavailable, Misconfigured, ServiceError, Unavailable
from .telemetry import check_settings, logger, metrics


def _json(body: object) -> str:
    """Every answer's body, success or error: compact, Unicode as is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def error(status: int, code: ErrorCode, message: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, _json({"error": code, "message": message}))


def resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload 2.0) resolver whose every failure is a JSON error body."""
    app = APIGatewayHttpResolver(serializer=_json)

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        if exc.status == 500:  # misconfigured: an error to act on
            logger.error("request failed", code=exc.code, detail=exc.message)
        elif exc.status > 500:  # busy or unavailable: the client retries
            logger.warning("request failed", code=exc.code, detail=exc.message)
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler([BotoCoreError, ClientError, KeyUnavailable])
    def _dependency_failed(exc: Exception) -> Response:
        if failures.is_transient(exc):  # throttled, timed out, unreachable: a retry may pass
            logger.warning("dependency failed", extra=failures.describe(exc))
            return error(Unavailable.status, Unavailable.code, Unavailable.message)
        logger.error("dependency refused: misconfigured", extra=failures.describe(exc))
        return error(Misconfigured.status, Misconfigured.code, Misconfigured.message)

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        # API Gateway routed the request here by a call id that Powertools' route pattern refuses
        # (a control character, '?', '#', NUL...): a bad id, not a missing route.
        if "call_id" in (app.current_event.path_parameters or {}):
            return error(400, ErrorCode.INVALID_CALL_ID, inputs.CALL_ID_MESSAGE)
        return error(404, ErrorCode.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error")
        return error(500, ErrorCode.INTERNAL_ERROR, "the service failed unexpectedly; the error was logged")

    return app


def body(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The current request's JSON object body (base64 bodies decoded first)."""
    event = app.current_event
    raw: str | bytes | None = event.body
    if raw and event.is_base64_encoded:
        import base64
        import binascii

        try:
            raw = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise BadRequest("the base64 body does not decode", ErrorCode.INVALID_BODY) from exc
    return inputs.json_object(raw)


def path_call_id(app: APIGatewayHttpResolver, value: str) -> str:
    """The path's call id, acted on only when it is the gateway's path parameter, whole, and the
    path names exactly it; added to every log line of this request. Anything else is 400 invalid_call_id.

    `value` is what Powertools' route regex captured from the path, and its `$` matches before a
    final newline: `/sessions/abc\n` would capture `abc`. So the path parameter API Gateway sends is
    checked whole (`abc\n` breaks the rule), and the path must be the route with exactly that id in
    it (a gateway that cut the path short, `qcut?x` for `/sessions/qcut`, names two ids).
    API Gateway hands the path over percent-decoded; it is never decoded again: the call-id
    alphabet is one percent-encoding leaves unchanged, so an id still holding '%' is refused
    rather than read as another session's.
    """
    event = app.current_event
    call_id = inputs.call_id((event.path_parameters or {}).get("call_id"))
    route = event.route_key.partition(" ")[2]  # "DELETE /sessions/{call_id}"
    if value != call_id or event.path != route.replace("{call_id}", call_id):
        raise BadRequest(inputs.CALL_ID_MESSAGE, ErrorCode.INVALID_CALL_ID)
    logger.append_keys(call_id=call_id)
    return call_id


def entry(
    app: APIGatewayHttpResolver, *, requires: tuple[str, ...] = (), trace: bool = True
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler: request-id correlated logs, EMF metrics, optional X-Ray tracing.

    `requires` names the settings (environment variables) the routes cannot work without.
    `trace=False` keeps the X-Ray SDK off a hot path (Lambda's active tracing still
    records the invocation).
    """
    check_settings(*requires)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    handler = metrics.log_metrics(handle)
    if trace:
        from aws_lambda_powertools import Tracer

        handler = Tracer().capture_lambda_handler(handler)
    return logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)(
        handler
    )
