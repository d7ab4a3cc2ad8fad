"""Client for the SWAIG session service: a drop-in for the SignalWire SDK's SessionManager.

Adopting it is one line in an agent::

    from session_client import RemoteSessionManager
    RemoteSessionManager("https://<api>.execute-api.<region>.amazonaws.com/<stage>", secret_arn=ARN).install(agent)
"""

__version__ = "0.1.0"

from .errors import (
    AccessDenied,
    InvalidInput,
    InvalidResponse,
    ServiceUnavailable,
    SessionEnded,
    SessionNotFound,
    SessionServiceError,
)
from .manager import RemoteSessionManager
from .outbox import OutboxStats
from .signing import SigV4
from .tokens import TokenCheck

__all__ = [
    "AccessDenied",
    "InvalidInput",
    "InvalidResponse",
    "OutboxStats",
    "RemoteSessionManager",
    "ServiceUnavailable",
    "SessionEnded",
    "SessionNotFound",
    "SessionServiceError",
    "SigV4",
    "TokenCheck",
    "__version__",
]
