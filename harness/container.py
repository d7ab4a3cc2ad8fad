"""This process as a new Lambda container for the core, for handlers run in-process.

The core reads its environment once per container and caches what it builds from it; a test or a
benchmark that changes the environment starts the container over. A worker of the local stack is
a fresh process and needs none of this.
"""

from __future__ import annotations


def cold_start(*, clients: bool = True) -> None:
    """Forget the settings and service the core cached, and its boto3 clients unless `clients=False`."""
    from session_core import config, service

    config.settings.cache_clear()
    service.default_service.cache_clear()
    if clients:
        config.client.cache_clear()
