"""What http_event adds for the local front: query parameters, path parameters, cookies."""

from __future__ import annotations

from local.lambda_runtime import http_event


def test_query_string_parameters_join_repeated_names() -> None:
    event = http_event("GET", "/x", query="a=1&a=2&b=&c=%20d")
    assert event["rawQueryString"] == "a=1&a=2&b=&c=%20d"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "", "c": " d"}


def test_optional_parts_are_absent_unless_given() -> None:
    event = http_event("GET", "/x")
    for key in ("queryStringParameters", "pathParameters", "cookies", "body"):
        assert key not in event


def test_path_parameters_and_cookies() -> None:
    event = http_event("GET", "/s/1", route_key="GET /s/{id}", path_parameters={"id": "1"}, cookies=["a=1"])
    assert event["pathParameters"] == {"id": "1"}
    assert event["cookies"] == ["a=1"]
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /s/{id}"
