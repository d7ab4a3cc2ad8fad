"""The expiry index: a global secondary index whose partitions are (hour of expiry, shard), so that
cleanup reads only items past their expiry, never the whole table."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .interface import CleanupResult
from .items import Attr, n, s

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_dynamodb import DynamoDBClient

EXPIRY_INDEX = "by-expiry"
BUCKET_SECS = 3600  # an expiry bucket spans one hour of expiry times
BUCKET_SHARDS = 8  # spreads one hour's writes over 8 index partitions
LOOKBACK_BUCKETS = 72  # cleanup looks back three days, past DynamoDB's own TTL lag


def bucket_name(period: int, shard: int) -> str:
    """Partition key of the expiry index: which hour of expiry times, which shard."""
    return f"{period}#{shard}"


def expiry_bucket(call_id: str, expires_at: int) -> str:
    return bucket_name(expires_at // BUCKET_SECS, zlib.crc32(call_id.encode()) % BUCKET_SHARDS)


class ExpiryIndex:
    """Deletes a table's expired sessions, found through the expiry index."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table = table_name
        self.client = client
        self._conditional_failure = client.exceptions.ConditionalCheckFailedException

    def _expired_in(self, bucket: str, now: int) -> list[str]:
        """Call ids in one expiry bucket whose expiry has passed (only those are read)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=EXPIRY_INDEX,
            KeyConditionExpression="#bucket = :bucket AND #exp <= :now",
            ExpressionAttributeNames={"#bucket": Attr.BUCKET, "#exp": Attr.EXPIRES_AT},
            ExpressionAttributeValues={":bucket": s(bucket), ":now": n(now)},
        )
        return [item[Attr.KEY]["S"] for page in pages for item in page.get("Items", [])]

    def _delete_if_expired(self, call_id: str, now: int) -> bool:
        # Conditional, because the index lags the table: the session may have been refreshed.
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={Attr.KEY: s(call_id)},
                ConditionExpression="#exp <= :now",
                ExpressionAttributeNames={"#exp": Attr.EXPIRES_AT},
                ExpressionAttributeValues={":now": n(now)},
            )
        except self._conditional_failure:
            return False
        return True

    def delete_expired(self, now: int) -> CleanupResult:
        newest = now // BUCKET_SECS
        periods = range(newest - LOOKBACK_BUCKETS, newest + 1)
        buckets = [bucket_name(period, shard) for period in periods for shard in range(BUCKET_SHARDS)]
        # Hundreds of small queries, mostly empty: run them side by side, like the deletes.
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = [key for found in pool.map(lambda bucket: self._expired_in(bucket, now), buckets) for key in found]
            deleted = sum(pool.map(lambda call_id: self._delete_if_expired(call_id, now), keys))
        return CleanupResult(examined=len(keys), deleted=deleted)
