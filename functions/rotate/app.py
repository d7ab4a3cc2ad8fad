"""Secrets Manager rotation function for the signing key: createSecret, setSecret, testSecret, finishSecret."""

from typing import Any

from session_core.config import secretsmanager
from session_core.rotation import rotate_step
from session_core.telemetry import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    # Only the step and the version id are logged: never the key.
    logger.info("rotation step", step=event.get("Step"), version=event.get("ClientRequestToken"))
    rotate_step(secretsmanager(), event)
    logger.info("rotation step done", step=event.get("Step"))
