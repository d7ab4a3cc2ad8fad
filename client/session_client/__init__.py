"""Client for the SWAIG session service: a drop-in for the SignalWire SDK's SessionManager.

Adopting it is one line in an agent::

    from session_client import RemoteSessionManager
    agent._session_manager = RemoteSessionManager("https://<api>.execute-api.<region>.amazonaws.com/<stage>")
"""

__version__ = "0.1.0"

from .errors import SessionServiceError
from .manager import RemoteSessionManager
from .signing import SigV4
from .tokens import TokenCheck

__all__ = ["RemoteSessionManager", "SessionServiceError", "SigV4", "TokenCheck", "__version__"]
