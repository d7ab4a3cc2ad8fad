"""The local moto server: DynamoDB's attribute values written directly give what moto's serializer gives."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from moto.core import serialize
from moto.core.responses import get_service_model
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import dynamo_to_dict

from local import aws
from local.moto_server import DynamoDBSerializer, MotoServer

# Every AttributeValue type, nested and empty, as boto3 takes and gives it (binaries as bytes).
ITEM: dict[str, Any] = {
    "pk": {"S": "call-1"},
    "empty_s": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\x01\x02\xff"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x00", b"\xff"]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "m": {"M": {"inner": {"M": {"x": {"L": [{"N": "1"}, {"S": "é✓"}, {"M": {}}, {"L": []}, {"B": b"\x01"}]}}}}},
    "empty_m": {"M": {}},
    "empty_l": {"L": []},
}


def _wire(value: Any) -> Any:
    """The JSON wire form: binaries base64-encoded."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


class CountingPicker(serialize.XFormedAttributePicker):
    """moto's member lookup (the slow part), counted."""

    calls = 0

    def __call__(self, context: serialize.AttributePickerContext) -> Any:
        self.calls += 1
        return super().__call__(context)


def _body(serializer_class: type[serialize.ResponseSerializer], operation: str, result: Any) -> tuple[Any, int]:
    """The response body moto's server would send, and how many member lookups it took."""
    model = get_service_model("dynamodb").operation_model(operation)
    picker = CountingPicker()
    serializer = serializer_class(operation_model=model, value_picker=picker)
    return json.loads(serializer.serialize(result)["body"]), picker.calls


def _as_moto(item: dict[str, Any]) -> Any:
    """An item as moto hands it to its serializer: binaries as bytes (what dynamo_to_dict does)."""
    return dynamo_to_dict({name: DynamoType(value) for name, value in _wire(item).items()})


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("GetItem", {"Item": _as_moto(ITEM)}),
        ("UpdateItem", {"Attributes": _as_moto(ITEM), "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}),
        ("Query", {"Items": [_as_moto(ITEM)] * 2, "Count": 2, "LastEvaluatedKey": _as_moto({"pk": ITEM["pk"]})}),
    ],
)
def test_attribute_values_serialize_as_moto_would(operation: str, result: dict[str, Any]) -> None:
    fast, fast_lookups = _body(DynamoDBSerializer, operation, result)
    slow, slow_lookups = _body(serialize.JSONSerializer, operation, result)
    assert fast == slow
    assert (fast.get("Items") or [fast.get("Item") or fast.get("Attributes")])[0] == _wire(ITEM)
    assert fast_lookups * 10 < slow_lookups  # the values were written directly, not member by member


def test_server_uses_it_and_round_trips_every_type() -> None:
    with MotoServer(aws.HOST) as moto:
        assert serialize.get_serializer_class("dynamodb", "json") is DynamoDBSerializer
        client = aws.clients(moto.endpoint)[0]
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=ITEM)
        got = client.get_item(TableName="t", Key={"pk": ITEM["pk"]}, ConsistentRead=True)["Item"]
        old = client.update_item(
            TableName="t",
            Key={"pk": ITEM["pk"]},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
            ReturnValues="ALL_OLD",
        )["Attributes"]
    assert got == old == ITEM
