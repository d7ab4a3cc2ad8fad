"""The HTTP front over real HTTP: requests become HTTP API v2 events, results become HTTP responses."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.template import Function, Route
from tests.support.front import serving_front


@pytest.fixture
def base_url(make_function: Callable[..., Function]) -> Iterator[str]:
    echo = make_function(
        "echo", routes=[Route("GET", "/items/{id}"), Route("POST", "/items/{id}"), Route("DELETE", "/items/{id}/tags")]
    )
    with serving_front({"echo": echo}) as url:
        yield url


def raw_get(base_url: str, target: str) -> tuple[int, Any]:
    """GET `target` byte for byte (no client-side normalising of escapes); the status and JSON answer."""
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=10)
    try:
        conn.request("GET", target)
        raw = conn.getresponse()
        return raw.status, json.loads(raw.read() or b"null")
    finally:
        conn.close()


def event_of(reply: requests.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    event: dict[str, Any] = reply.json()["event"]
    return event


def test_a_request_becomes_an_http_api_v2_event(base_url: str) -> None:
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=10)
    conn.putrequest("GET", "/items/42?tag=a&tag=b&empty=")
    for name, value in [("X-Multi", "1"), ("x-multi", "2"), ("Cookie", "a=1; b=2")]:
        conn.putheader(name, value)
    conn.endheaders()
    raw = conn.getresponse()
    assert raw.status == 200
    event = json.loads(raw.read())["event"]
    conn.close()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2"  # repeated headers joined, as API Gateway does
    assert event["requestContext"]["http"]["method"] == "GET"
    assert raw.headers["Apigw-Requestid"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("sent", "path", "param"),
    [("a%2Db", "/items/a-b", "a-b"), ("X%2541", "/items/X%41", "X%41"), ("%E6%97%A5", "/items/日", "日")],
)
def test_the_function_gets_the_path_decoded_once(base_url: str, sent: str, path: str, param: str) -> None:
    """As an HTTP API delivers it: rawPath, http.path and pathParameters percent-decoded, once."""
    status, answer = raw_get(base_url, f"/items/{sent}?q=%2F")  # as sent: requests would unescape %2D
    assert status == 200, answer
    event = answer["event"]
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == path
    assert event["pathParameters"] == {"id": param}
    assert event["rawQueryString"] == "q=%2F"  # the query string stays raw; its parameters are decoded
    assert event["queryStringParameters"] == {"q": "/"}


def test_an_encoded_slash_reaches_no_function(base_url: str) -> None:
    assert raw_get(base_url, "/items/a%2Fb") == (404, {"message": "Not Found"})


def test_bodies_text_and_binary(base_url: str) -> None:
    event = event_of(requests.post(f"{base_url}/items/1", json={"k": "é"}, timeout=10))
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "\\u00e9"}', False)
    binary = bytes(range(256))
    event = event_of(requests.post(f"{base_url}/items/1", data=binary, timeout=10))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == binary
    assert "body" not in event_of(requests.post(f"{base_url}/items/1", timeout=10))


def test_a_chunked_body_is_read_whole(base_url: str) -> None:
    event = event_of(requests.post(f"{base_url}/items/1", data=iter([b'{"a":', b"1}"]), timeout=10))
    assert event["body"] == '{"a":1}'


def test_a_payload_2_response_becomes_http(base_url: str) -> None:
    response: dict[str, Any] = {
        "statusCode": 201,
        "headers": {"X-One": "1", "Content-Type": "text/plain"},
        "multiValueHeaders": {"X-Many": ["a", "b"]},
        "cookies": ["s=1; Path=/", "t=2"],
        "body": base64.b64encode(b"hi").decode(),
        "isBase64Encoded": True,
    }
    reply = requests.post(f"{base_url}/items/1?action=reply", json=response, timeout=10)
    assert reply.status_code == 201
    assert reply.content == b"hi"
    assert reply.headers["X-One"] == "1"
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers["X-Many"] == "a, b"
    assert reply.cookies.get("s") == "1" and reply.cookies.get("t") == "2"


def test_a_result_without_status_code_is_a_200_json_body(base_url: str) -> None:
    reply = requests.post(f"{base_url}/items/1?action=reply", json=["plain", 1], timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == ["plain", 1]


GATEWAY_500 = (500, {"message": "Internal Server Error"})


@pytest.mark.parametrize("action", ["raise", "exit"])
def test_a_failing_handler_is_the_gateways_500_and_the_next_request_works(base_url: str, action: str) -> None:
    reply = requests.get(f"{base_url}/items/1?action={action}", timeout=10)
    assert (reply.status_code, reply.json()) == GATEWAY_500
    assert "Apigw-Requestid" in reply.headers
    assert requests.get(f"{base_url}/items/1", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "response", [{"statusCode": "abc"}, {"statusCode": 99}, {"statusCode": 200, "body": "%", "isBase64Encoded": True}]
)
def test_a_malformed_lambda_response_is_the_gateways_500(base_url: str, response: dict[str, Any]) -> None:
    reply = requests.post(f"{base_url}/items/1?action=reply", json=response, timeout=10)
    assert (reply.status_code, reply.json()) == GATEWAY_500


def test_unknown_routes_and_wrong_methods_are_the_gateways_404(base_url: str) -> None:
    """An HTTP API route is a method and a path: another method matches no route, no 405."""
    not_found = (404, {"message": "Not Found"})
    for method, path in [
        ("GET", "/nowhere"),
        ("PUT", "/items/1"),
        ("PROPFIND", "/items/1/tags"),
        ("DELETE", "/items/1"),
    ]:
        reply = requests.request(method, f"{base_url}{path}", timeout=10)
        assert (reply.status_code, reply.json()) == not_found, method
        assert "Allow" not in reply.headers
    reply = requests.head(f"{base_url}/items/1", timeout=10)
    assert (reply.status_code, reply.content) == (404, b"")


def test_a_handler_past_its_timeout_is_the_gateways_500(make_function: Callable[..., Function]) -> None:
    """Lambda ends it at the template's Timeout: a function error, which the gateway answers 500."""
    slow = dataclasses.replace(make_function("slow", routes=[Route("GET", "/slow")]), timeout=0.5)
    with serving_front({"slow": slow}) as url:
        reply = requests.get(f"{url}/slow?action=sleep", timeout=10)  # sleeps 5 s: a 200 if not ended
        assert (reply.status_code, reply.json()) == GATEWAY_500


def test_past_the_integration_timeout_the_gateway_answers_503(make_function: Callable[..., Function]) -> None:
    """A function allowed to run longer than the gateway waits: 503 when the gateway gives up."""
    slow = make_function("slow", routes=[Route("GET", "/slow")])  # Timeout 3 s, the default
    with serving_front({"slow": slow}, integration_timeout=0.5) as url:
        reply = requests.get(f"{url}/slow?action=sleep", timeout=10)  # sleeps 5 s: a 200 if waited for
        assert (reply.status_code, reply.json()) == (503, {"message": "Service Unavailable"})
        assert requests.get(f"{url}/slow", timeout=10).status_code == 200  # the other worker


def test_waiting_for_a_worker_counts_against_the_integration_timeout(make_function: Callable[..., Function]) -> None:
    """Waiting plus running never outlasts the gateway: with every worker busy, the wait is cut short."""
    slow = dataclasses.replace(make_function("slow", routes=[Route("GET", "/slow")]), timeout=1.0)
    # Two workers busy past the 0.5 s a request may wait.
    with serving_front({"slow": slow}, integration_timeout=1.5) as url, ThreadPoolExecutor(3) as pool:
        busy = [pool.submit(requests.get, f"{url}/slow?action=sleep", timeout=10) for _ in range(2)]
        time.sleep(0.2)  # let both reach a worker first
        waiting = requests.get(f"{url}/slow", timeout=10)
        assert (waiting.status_code, waiting.json()) == (503, {"message": "Service Unavailable"})
        assert [f.result().status_code for f in busy] == [500, 500]  # each ended at its 1 s Timeout


def test_an_event_over_lambdas_6_mb_is_the_gateways_413(base_url: str) -> None:
    """The event JSON counts, not the body: 4.8 MB of binary is 6.4 MB once base64-encoded."""
    too_large = (413, {"message": "Request Entity Too Large"})
    for data in (b"x" * (6 * 1024 * 1024 + 1), bytes(range(256)) * (4_800_000 // 256)):
        reply = requests.post(f"{base_url}/items/1", data=data, timeout=30)
        assert (reply.status_code, reply.json()) == too_large, len(data)
    padded = json.dumps({"statusCode": 204, "pad": "x" * 5_000_000})  # under 6 MB as an event
    assert requests.post(f"{base_url}/items/1?action=reply", data=padded, timeout=30).status_code == 204


def read_until_closed(conn: socket.socket) -> bytes:
    """The whole answer to a request the server closes the connection after."""
    raw = b""
    while chunk := conn.recv(65536):
        raw += chunk
    return raw


def test_what_http_server_rejects_is_json_too(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /a b HTTP/1.1\r\n\r\n")
        raw = read_until_closed(conn)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"application/json" in head
    assert json.loads(body) == {"message": "Bad Request"}


def test_an_oversized_body_is_413(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n")
        raw = read_until_closed(conn)
    assert raw.startswith(b"HTTP/1.1 413")
    assert raw.endswith(b'{"message":"Request Entity Too Large"}')


def test_openapi_json_is_served_only_with_the_hook(make_function: Callable[..., Function]) -> None:
    functions = {"echo": make_function("echo", routes=[Route("GET", "/items/{id}")])}
    with serving_front(functions) as url:
        assert requests.get(f"{url}/openapi.json", timeout=10).status_code == 404
    with serving_front(functions, openapi=lambda: {"openapi": "3.0.3", "paths": {}}) as url:
        reply = requests.get(f"{url}/openapi.json", timeout=10)
        assert (reply.status_code, reply.json()) == (200, {"openapi": "3.0.3", "paths": {}})
        assert requests.post(f"{url}/openapi.json", timeout=10).status_code == 404
