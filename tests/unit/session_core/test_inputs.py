"""session_core.inputs: each request rule at its boundaries, each violation a 400 with its code."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from session_core import inputs
from session_core.errors import BadRequest
from session_rules import limits
from session_rules.limits import MAX_TOKEN_LENGTH


def rejects(code: str, rule: Any, *args: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        rule(*args)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert caught.value.message


# -- call_id: 1-128 of A-Z a-z 0-9 . _ ~ -, not only dots ---------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "x" * 128,
        "root.2",
        "CA1234abcd-ef.2",
        "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a",  # a SignalWire call id (UUID)
        "Zm9v_YmFy-x",  # secrets.token_urlsafe
        "~tilde",
        ".a",
        "a..",
        "-",
    ],
)
def test_call_id_accepts(value: str) -> None:
    assert inputs.call_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 129,
        ".",
        "..",
        "." * 128,  # dot segments: clients collapse them out of a URL path
        "victim:transfer:32503680000",  # ':' would let a signed message be re-cut
        "a/b",
        "a?b",
        "a#b",
        "a%41",  # what API Gateway hands over for a path holding %2541: never decoded again
        "a b",
        "a\t",
        "通話-1",
        "📞",
        "a\x00b",
        "\ud800",  # a lone surrogate
        None,
        12,
        ["a"],
    ],
)
def test_call_id_rejects(value: Any) -> None:
    rejects("invalid_call_id", inputs.call_id, value)


def test_a_call_id_is_never_decoded() -> None:
    """API Gateway decodes the path once; what still holds an escape is refused, not decoded again."""
    rejects("invalid_call_id", inputs.call_id, "X%41")  # would have named session XA
    rejects("invalid_call_id", inputs.call_id, "a%2Fb")


# -- function names: 1-64 of A-Z a-z 0-9 _ - ----------------------------------------------------


@pytest.mark.parametrize("value", ["f", "F" * 64, "get_weather", "a-b_C9", "-", "_", "0"])
def test_function_name_accepts(value: str) -> None:
    assert inputs.function_name(value) == value


@pytest.mark.parametrize(
    "value", ["", "f" * 65, "a.b", "a b", "é", "\uff46", "a\n", "get:weather", "a/b", None, 1, ["f"]]
)
def test_function_name_rejects(value: Any) -> None:
    rejects("invalid_function", inputs.function_name, value)


def test_function_names_one_or_a_batch() -> None:
    assert inputs.function_names({"function": "f"}) == ["f"]
    assert inputs.function_names({"functions": ["f"]}) == ["f"]
    batch = [f"fn_{i}" for i in range(limits.MAX_BATCH)]
    assert inputs.function_names({"functions": batch}) == batch
    assert inputs.function_names({"functions": ["b", "a", "b"]}) == ["b", "a"]  # deduplicated, in order


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"function": "f", "functions": ["g"]}, "invalid_body"),
        ({"function": "f", "functions": ["f"]}, "invalid_body"),
        ({"functions": []}, "invalid_function"),
        ({"functions": [f"fn_{i}" for i in range(limits.MAX_BATCH + 1)]}, "invalid_function"),
        ({"functions": "f"}, "invalid_function"),
        ({"functions": {"f": 1}}, "invalid_function"),
        ({"functions": ["ok", "not ok"]}, "invalid_function"),
        ({"functions": ["ok", 3]}, "invalid_function"),
        ({"function": ["f"]}, "invalid_function"),
    ],
)
def test_function_names_reject(body: dict[str, Any], code: str) -> None:
    rejects(code, inputs.function_names, body)


# -- token: at most 1,024 characters -----------------------------------------------------------


def test_token_length_bounds() -> None:
    assert MAX_TOKEN_LENGTH == 1024
    assert inputs.token("t") == "t"
    assert inputs.token("t" * 1024) == "t" * 1024
    rejects("invalid_token", inputs.token, "t" * 1025)
    rejects("invalid_token", inputs.token, "")
    rejects("invalid_token", inputs.token, None)
    rejects("invalid_token", inputs.token, 1234)


# -- metadata: an object, keys 1-128 characters ------------------------------------------------


def test_metadata_keys() -> None:
    ok = {"k": 1, "x" * 128: None, "ключ": {"nested": [1, 2]}, "a.b": True}
    assert inputs.metadata(ok) == ok
    assert inputs.metadata({}) == {}
    rejects("invalid_metadata", inputs.metadata, {"": 1})
    rejects("invalid_metadata", inputs.metadata, {"x" * 129: 1})
    for not_object in ([], "s", 1, None, [["k", 1]]):
        rejects("invalid_metadata", inputs.metadata, not_object)


def test_metadata_patch_forms() -> None:
    assert inputs.metadata_patch({"metadata": {"a": 1}}) == {"a": 1}
    assert inputs.metadata_patch({"key": "a", "value": None}) == {"a": None}
    assert inputs.metadata_patch({"key": "x" * 128, "value": [1]}) == {"x" * 128: [1]}
    rejects("missing_field", inputs.metadata_patch, {"key": "a"})
    rejects("missing_field", inputs.metadata_patch, {"value": 1})
    rejects("invalid_metadata", inputs.metadata_patch, {"key": "", "value": 1})
    rejects("invalid_metadata", inputs.metadata_patch, {"key": "x" * 129, "value": 1})
    rejects("invalid_metadata", inputs.metadata_patch, {"key": 5, "value": 1})
    rejects("invalid_metadata", inputs.metadata_patch, {"metadata": [1]})


def test_require() -> None:
    assert inputs.require({"a": None}, "a") is None
    rejects("missing_field", inputs.require, {"b": 1}, "a")


# -- the JSON body -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (b'{"a": 1.0}', {"a": 1.0}),
        ('{"a": "\\ud83d\\ude00"}', {"a": "😀"}),  # an escaped surrogate pair is one character
        ('{"ключ": "значение"}'.encode(), {"ключ": "значение"}),
        ('{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
        ("  {}  ", {}),
        (
            '{"a": 1e308, "b": -1.7976931348623157e308, "c": 5e-324, "d": 0.0, "e": -0e5, "f": 0E-400}',
            {"a": 1e308, "b": -1.7976931348623157e308, "c": 5e-324, "d": 0.0, "e": -0.0, "f": 0.0},
        ),
    ],
)
def test_json_object_accepts(body: str | bytes, expected: dict[str, Any]) -> None:
    assert inputs.json_object(body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "invalid_body"),
        ("", "invalid_body"),
        (b"", "invalid_body"),
        ("[]", "invalid_body"),
        ("[1, 2]", "invalid_body"),
        ('"text"', "invalid_body"),
        ("1", "invalid_body"),
        ("null", "invalid_body"),
        ("true", "invalid_body"),
        ('{"a": NaN}', "invalid_json"),
        ('{"a": Infinity}', "invalid_json"),
        ('{"a": -Infinity}', "invalid_json"),
        ("NaN", "invalid_json"),
        ('{"a": 1', "invalid_json"),
        ("{'a': 1}", "invalid_json"),
        ('{"a": 1,}', "invalid_json"),
        ("   ", "invalid_json"),
        (b'{"a": "\xff"}', "invalid_json"),  # not UTF-8
        (b'{"a": "\xc3"}', "invalid_json"),  # a truncated sequence
        (b'{"a": "\xed\xa0\x80"}', "invalid_json"),  # an encoded surrogate (CESU-8): not UTF-8
        ('{"a": "\\ud800"}', "invalid_json"),  # an escaped lone surrogate is no character at all
        ('{"\\udc00": 1}', "invalid_json"),
        ('{"a": ["\\udbff"]}', "invalid_json"),
        ('{"a": "\ud800"}', "invalid_json"),  # a raw lone surrogate in the (already decoded) text
        ("[" * 100_000 + "]" * 100_000, "invalid_json"),  # nesting deeper than the parser goes
        ('{"a": 1e400}', "invalid_json"),  # out of a float's range: refused, not stored as Infinity
        ('{"a": -1e309}', "invalid_json"),
        ('{"a": {"b": [1.5e999]}}', "invalid_json"),
        ('{"a": 1e-400}', "invalid_json"),  # would silently become 0.0
        ('{"a": -2.5E-999}', "invalid_json"),
        ('{"a": 1' + "0" * 5000 + "}", "invalid_json"),  # beyond Python's integer-string limit
    ],
)
def test_json_object_rejects(body: str | bytes | None, code: str) -> None:
    rejects(code, inputs.json_object, body)


# -- numbers come back with the value sent, or are refused -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0.10000000000000000000001",  # more digits than a double holds: it would read back 0.1
        "9007199254740993.0",  # 2**53 + 1: it would read back 9007199254740992.0
        "123456789.123456789123",  # it would read back 123456789.12345679
        "1.7976931348623159e308",  # rounds to infinity
        "4.9e-324",  # rounds to the smallest double, 5e-324
        "2.5e-324",  # rounds to 0.0
        "-1e-400",
        "1e999999999999999999999",  # beyond even Decimal's exponents: once an unexpected error, a 500
        "-1e-999999999999999999999",
        "1." + "0" * 100_000 + "1",  # long, but refused without trouble
    ],
)
def test_a_number_a_double_would_change_is_refused(text: str) -> None:
    rejects("invalid_json", inputs.json_object, '{"a": ' + text + "}")
    with pytest.raises(BadRequest, match="would not come back as sent"):
        inputs.json_object('{"a": ' + text + "}")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1", 0.1),
        ("1e5", 1e5),
        ("1.0E-5", 1e-5),
        ("-0.0", -0.0),
        ("5e-324", 5e-324),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("9007199254740992.0", 2.0**53),
        ("9007199254740993", 2**53 + 1),  # an integer: a Python int, exact at any size
        ("1" + "0" * 400, 10**400),
    ],
)
def test_a_number_that_keeps_its_value_is_taken(text: str, value: float) -> None:
    parsed = inputs.json_object('{"a": ' + text + "}")["a"]
    assert parsed == value and type(parsed) is type(value)
    assert Decimal(json.dumps(parsed)) == Decimal(text)  # what is written back has the value sent


json_numbers = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,25}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,25}", fullmatch=True)),
    # exponents past a double's, and past Decimal's (which once escaped as a 500)
    st.one_of(
        st.just(""),
        st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True),
        st.from_regex(r"[eE][+-]?[0-9]{4,25}", fullmatch=True),
    ),
)


@example("1e999999999999999999999")
@example("-0.0e-99999999999999999999")
@given(json_numbers)
def test_any_json_number_comes_back_with_its_value_or_is_refused(text: str) -> None:
    try:
        parsed = inputs.json_object('{"a": ' + text + "}")["a"]
    except BadRequest as refused:
        assert refused.code == "invalid_json"
        assert "." in text or "e" in text.lower()  # integers are never refused for their digits
        return
    assert Decimal(json.dumps(parsed)) == Decimal(text)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_as_json_writes_it_is_taken(value: float) -> None:
    """What JSON.stringify and json.dumps write for a double is always accepted, and read back the same."""
    parsed = inputs.json_object(json.dumps({"a": value}))["a"]
    assert parsed == value and repr(parsed) == repr(value)
