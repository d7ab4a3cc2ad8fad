"""moto's server on loopback, serving one request at a time: the emulated AWS account.

moto's backends are not thread-safe (concurrent UpdateItems on one item fail with
"dictionary changed size during iteration"), while DynamoDB applies the writes to an
item one at a time. Serving requests one by one gives moto that atomicity; clients'
threads still interleave between their requests, so concurrency is still exercised.

Connections are kept alive, as DynamoDB's and Secrets Manager's are: each connection has a
thread of its own (werkzeug then speaks HTTP/1.1), and a lock lets one request at a time
into moto. A single-threaded server would have to close every connection after its
request, or one idle client connection would block all others.

DynamoDB's attribute values are written to JSON directly (`DynamoDBSerializer`): moto's
generic serializer looks each of a value's ten possible type members up by several
spellings, too slow for a large session within the functions' 1 s read timeout, where
DynamoDB takes milliseconds.

DynamoDB refuses a PutItem or UpdateItem whose resulting item would exceed 400 KB; moto
checks only its own estimate (refusing from about 405,000 bytes), and not at all for values set
inside a map (`SET md.#k = :v`), so on its own it stores a 600 KB item. The server adds
DynamoDB's rule (`enforce_item_size`): an item is refused past 400 KB by that rule or past moto's
own estimate, whichever comes first, so the local stack is never more lenient than DynamoDB.
"""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Mapping
from typing import Any

from moto.core import serialize

# DynamoDB's maximum item size, attribute names included: 400 KB, and its sizing rule, from
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
# (strings and binaries: their UTF-8 / raw bytes; numbers: 1 byte per two significant digits,
# plus 1; null and Boolean: 1; a list or map: 3, plus 1 per element, plus its elements, a map's
# with their names).
MAX_ITEM_BYTES = 400 * 1024


def _number_bytes(text: str) -> int:
    mantissa = text.strip().lstrip("+-").lower().split("e")[0].replace(".", "")
    return (len(mantissa.strip("0")) + 1) // 2 + 1


def _binary_bytes(value: bytes | str) -> int:
    return len(value) if isinstance(value, bytes) else len(base64.b64decode(value))  # base64 on the wire


def attribute_value_bytes(value: Mapping[str, Any]) -> int:
    """The size of one AttributeValue (`{type: value}`, as on the wire or as moto holds it), by DynamoDB's rule."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_bytes(inner)
    if kind == "B":
        return _binary_bytes(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(_number_bytes(v) for v in inner)
    if kind == "BS":
        return sum(_binary_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_value_bytes(v) + 1 for v in inner)
    raise ValueError(f"not an AttributeValue type: {kind!r}")


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size by DynamoDB's rule: each attribute's name and value."""
    return sum(len(name.encode()) + attribute_value_bytes(value) for name, value in item.items())


def enforce_item_size() -> None:
    """Make moto's DynamoDB refuse items over MAX_ITEM_BYTES as DynamoDB does (idempotent).

    PutItem (BatchWriteItem's puts too) is checked before it is applied. UpdateItem runs on a
    copy of the stored item, which replaces it only if the result is within the limit; on any
    error the item is left as it was, as in DynamoDB, where moto can leave half of an update
    applied (or an empty item created for it). The messages are DynamoDB's own.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_item_size_enforced", False):
        return
    put, update = DynamoDBBackend.put_item, DynamoDBBackend.update_item

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if item_bytes(item_attrs) > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge()
        return put(self, table_name, item_attrs, *args, **kwargs)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        hash_value, range_value = self.get_keys_value(table, key)
        stored = table.get_item(hash_value, range_value)
        if stored is not None:  # moto updates the item in place: let it update a copy
            _place(table, hash_value, range_value, copy.deepcopy(stored))
        try:
            item = update(self, table_name, key, *args, **kwargs)
            if item_bytes(item.to_json()["Attributes"]) > MAX_ITEM_BYTES:
                raise ItemSizeToUpdateTooLarge()
        except Exception:
            _place(table, hash_value, range_value, stored)
            raise
        return item

    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend._item_size_enforced = True  # type: ignore[attr-defined]


def _place(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Store `item` under its key in a moto table (None: no item)."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items[hash_value].pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


class DynamoDBSerializer(serialize.JSONSerializer):
    """moto's JSON serializer, writing DynamoDB's AttributeValues without a lookup per member.

    moto hands over each value as one `{type: value}` pair, binaries as bytes
    (`moto.dynamodb.models.utilities.dynamo_to_dict`); the wire form base64-encodes those.
    Anything else goes to moto's own serializer.
    """

    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and isinstance(value, dict) and len(value) == 1:
            self._default_serialize(serialized, self._wire_value(value), shape, key)
        else:
            super()._serialize_type_structure(serialized, value, shape, key)

    def _wire_value(self, value: dict[str, Any]) -> dict[str, Any]:
        """One AttributeValue as DynamoDB's JSON protocol writes it (binaries by moto's own base64)."""
        ((kind, inner),) = value.items()
        if kind == "M":
            return {kind: {k: self._wire_value(v) for k, v in inner.items()}}
        if kind == "L":
            return {kind: [self._wire_value(v) for v in inner]}
        if kind == "B":
            return {kind: self._base64(inner)}
        if kind == "BS":
            return {kind: [self._base64(v) for v in inner]}
        return {kind: inner}


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = DynamoDBSerializer  # moto's hook
        enforce_item_size()
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))  # the whole response, inside the lock

        self._server = make_server(
            self.host, self.port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
