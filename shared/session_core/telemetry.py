"""The container's Powertools Logger and Metrics, which every function shares, HTTP or not."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

from .config import settings

logger = Logger()  # service name, level: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE
# Reads, ends and most errors record no metric; an empty flush is normal here, not news.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def check_settings(*required: str) -> None:
    """At cold start, log each setting problem as an error: the container's first log lines say what is wrong."""
    for problem in settings().problems(*required):
        logger.error("misconfigured: " + problem)
