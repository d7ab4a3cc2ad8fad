"""Scheduled: delete sessions past their expiry and report {"deleted", "examined"}."""

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.metrics import MetricUnit
from session_core import config
from session_core.service import default_service
from session_core.telemetry import check_settings, logger, metrics

tracer = Tracer()
check_settings(config.TABLE)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = default_service().cleanup()
    metrics.add_metric(name="SessionsDeleted", unit=MetricUnit.Count, value=result.deleted)
    logger.info("cleanup done", deleted=result.deleted, examined=result.examined)
    return {"deleted": result.deleted, "examined": result.examined}
