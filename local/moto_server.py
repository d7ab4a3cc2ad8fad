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
spellings, so returning a session of 1,600 metadata keys took 0.9 s, close to the
functions' 1 s read timeout, where DynamoDB takes milliseconds (now 0.13 s).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core import serialize


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
