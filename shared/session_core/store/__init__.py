"""Session persistence, one item per call id: the SessionStore interface and its value types
(interface), the item's layout (items) and incarnations (incarnations), the DynamoDB
implementation (dynamodb) and the expiry index that cleanup reads (expiry)."""

from .dynamodb import KEYS_PER_UPDATE, DynamoSessionStore
from .expiry import BUCKET_SECS, EXPIRY_INDEX, expiry_bucket
from .interface import CleanupResult, Session, SessionStore
from .items import Attr, metadata_size

__all__ = [
    "BUCKET_SECS",
    "EXPIRY_INDEX",
    "KEYS_PER_UPDATE",
    "Attr",
    "CleanupResult",
    "DynamoSessionStore",
    "Session",
    "SessionStore",
    "expiry_bucket",
    "metadata_size",
]
