"""The local moto server: DynamoDB's attribute values written directly give what moto's serializer gives,
and items over DynamoDB's 400 KB are refused as DynamoDB refuses them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core import serialize
from moto.core.responses import get_service_model
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import dynamo_to_dict

from local import aws
from local.moto_server import MAX_ITEM_BYTES, DynamoDBSerializer, MotoServer, attribute_value_bytes, item_bytes

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


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_server_uses_it_and_round_trips_every_type() -> None:
    with MotoServer(aws.HOST) as moto:
        assert serialize.get_serializer_class("dynamodb", "json") is DynamoDBSerializer
        client = aws.clients(moto.endpoint)[0]
        create_table(client, "t")
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


# -- DynamoDB's 400 KB item limit ----------------------------------------------------------------


def test_item_bytes_follows_dynamodbs_rule() -> None:
    # name + value: "pk" 2 + "a" 1; "n" 1 + 3 significant digits (2) + 1; "b" 1 + 4 raw bytes; "t" 1 + 1;
    # "m" 1 + 3 + ("x" 1 + "é✓" 5 + 1) + ("l" 1 + 3 + (1 + 1) + (1 + 1) + 1)
    item = {
        "pk": {"S": "a"},
        "n": {"N": "-0012.500"},
        "b": {"B": base64.b64encode(b"\x00\x01\x02\xff").decode()},
        "t": {"BOOL": True},
        "m": {"M": {"x": {"S": "é✓"}, "l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
    }
    assert aws_sizes(item) == [3, 4, 5, 2, 1 + 3 + 7 + 1 + 3 + 2 + 2 + 1]
    assert attribute_value_bytes({"N": "0"}) == 1 and attribute_value_bytes({"N": "1E+5"}) == 2
    assert attribute_value_bytes({"SS": ["ab", "é"]}) == 4


def aws_sizes(item: dict[str, Any]) -> list[int]:
    return [len(name.encode()) + attribute_value_bytes(value) for name, value in item.items()]


@pytest.fixture
def table() -> Iterator[tuple[Any, str]]:
    with MotoServer(aws.HOST) as moto:
        client = aws.clients(moto.endpoint)[0]
        create_table(client, "sized")
        yield client, "sized"
        client.delete_table(TableName="sized")


def stored(client: Any, name: str, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName=name, Key={"pk": {"S": pk}}, ConsistentRead=True).get(
        "Item"
    )
    return item


def refused(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return str(caught.value.response["Error"]["Message"])


def test_put_item_over_400_kb_is_refused(table: tuple[Any, str]) -> None:
    """moto's own estimate refuses this one too; the updates below are what moto alone lets through."""
    client, name = table
    # A map of 50 entries of 10,000 bytes: about 500 KB, spread so that no single value stands out.
    entries = {f"k{i:02d}": {"S": "x" * 10_000} for i in range(50)}
    item: dict[str, dict[str, Any]] = {"pk": {"S": "big"}, "md": {"M": entries}}
    assert item_bytes(item) > MAX_ITEM_BYTES
    message = refused(lambda: client.put_item(TableName=name, Item=item))
    assert message == "Item size has exceeded the maximum allowed size"
    assert stored(client, name, "big") is None
    fits = {"pk": {"S": "fits"}, "md": {"M": dict(list(entries.items())[:35])}}
    client.put_item(TableName=name, Item=fits)
    assert stored(client, name, "fits") == fits


def test_update_item_is_refused_when_the_resulting_item_would_exceed_400_kb(table: tuple[Any, str]) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "md": {"M": {}}})

    def set_entry(key: str, value: str) -> Any:
        return lambda: client.update_item(
            TableName=name,
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET md.#k = :v",
            ExpressionAttributeNames={"#k": key},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    for i in range(6):  # 6 x 60,000 bytes set one at a time inside the map: each UpdateItem is small
        set_entry(f"k{i}", "x" * 60_000)()
    before = stored(client, name, "a")
    assert before is not None
    room = MAX_ITEM_BYTES - item_bytes(before) - (len("k6") + 1)  # what one more entry's string may hold
    message = refused(set_entry("k6", "y" * (room + 1)))
    assert message == "Item size to update has exceeded the maximum allowed size"  # DynamoDB's UpdateItem wording
    assert stored(client, name, "a") == before  # nothing of the refused update applied
    set_entry("k6", "y" * room)()  # exactly 400 KB
    after = stored(client, name, "a")
    assert after is not None and item_bytes(after) == MAX_ITEM_BYTES


def test_update_item_creating_an_oversized_item_creates_nothing(table: tuple[Any, str]) -> None:
    client, name = table
    values = {f":v{i}": {"S": "z" * 100_000} for i in range(5)}
    message = refused(
        lambda: client.update_item(
            TableName=name,
            Key={"pk": {"S": "new"}},
            UpdateExpression="SET " + ", ".join(f"a{i} = :v{i}" for i in range(5)),
            ExpressionAttributeValues=values,
        )
    )
    assert "has exceeded the maximum allowed size" in message
    assert stored(client, name, "new") is None
