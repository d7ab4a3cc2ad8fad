"""Route selection over the template's routes: path parameters, literal paths first, whole-path matches."""

from __future__ import annotations

import pytest

from local import aws, template
from local.router import Match, Router, decode_path, template_routes
from local.template import Route

FUNCTIONS = template.functions({aws.TABLE_ID: "t", aws.SECRET_ID: "s"})


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(template_routes(FUNCTIONS))


def test_every_template_route_reaches_its_function(router: Router) -> None:
    routed = [(name, route) for name, fn in FUNCTIONS.items() for route in fn.routes]
    assert routed, "the template declares HTTP routes"
    for name, route in routed:
        path = route.path.replace("{call_id}", "call-1")
        found = router.match(route.method, path)
        assert isinstance(found, Match), (route, found)
        assert (found.target, found.route) == (name, route)


@pytest.mark.parametrize(
    ("method", "path", "target", "params"),
    [
        ("POST", "/sessions", "create", {}),
        ("POST", "/sessions/abc/tokens", "token", {"call_id": "abc"}),
        ("DELETE", "/sessions/root.2", "end", {"call_id": "root.2"}),
        ("DELETE", "/sessions/abc/metadata", "metadata", {"call_id": "abc"}),
        ("GET", "/sessions/a%2Db/metadata", "metadata", {"call_id": "a-b"}),  # decoded once, as AWS does
        ("DELETE", "/sessions/X%2541", "end", {"call_id": "X%41"}),  # once only: %25 is "%", no more
        ("DELETE", "/sessions/a%20b", "end", {"call_id": "a b"}),
    ],
)
def test_path_parameters(router: Router, method: str, path: str, target: str, params: dict[str, str]) -> None:
    found = router.match(method, decode_path(path))
    assert isinstance(found, Match)
    assert (found.target, found.params) == (target, params)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [("/sessions/X%2541", "/sessions/X%41"), ("/a%2Fb", "/a/b"), ("/%ZZ%", "/%ZZ%"), ("/%FF", "/\ufffd")],
)
def test_the_path_is_decoded_once(raw: str, decoded: str) -> None:
    assert decode_path(raw) == decoded


@pytest.mark.parametrize("path", ["/sessions/a%2Fb", "/sessions/a%2fb/metadata", "/sessions/%2F/tokens"])
def test_an_encoded_slash_is_a_real_slash_and_routes_nowhere(router: Router, path: str) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert router.match(method, decode_path(path)) is None


@pytest.mark.parametrize(
    "path", ["/", "/sessions/", "/session", "/sessions/a/b/tokens", "/sessions//tokens", "/tokens/validate/x"]
)
def test_an_unknown_path_is_404(router: Router, path: str) -> None:
    assert router.match("POST", path) is None
    assert router.match("GET", path) is None


def test_literal_segments_win_over_parameters_and_greedy_comes_last() -> None:
    router = Router(
        [
            (Route("GET", "/files/{path+}"), "greedy"),
            (Route("GET", "/files/{name}"), "param"),
            (Route("GET", "/files/latest"), "literal"),
            (Route("ANY", "/any/{x}"), "any"),
        ]
    )
    assert router.match("GET", "/files/latest") == Match("literal", Route("GET", "/files/latest"), {})
    found = router.match("GET", "/files/a.txt")
    assert isinstance(found, Match) and found.target == "param"
    found = router.match("GET", "/files/a/b.txt")
    assert isinstance(found, Match) and (found.target, found.params) == ("greedy", {"path": "a/b.txt"})
    found = router.match("PATCH", "/any/1")
    assert isinstance(found, Match) and found.target == "any"


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + ["?", "#"])
def test_a_control_character_or_delimiter_is_part_of_its_segment(router: Router, char: str) -> None:
    """The function sees what it was routed by: the whole segment is the path parameter."""
    for call_id in (f"abc{char}", f"{char}abc", char):
        found = router.match("DELETE", f"/sessions/{call_id}")
        assert isinstance(found, Match) and found.params == {"call_id": call_id}, repr(call_id)
        found = router.match("POST", f"/sessions/{call_id}/tokens")
        assert isinstance(found, Match) and found.params == {"call_id": call_id}, repr(call_id)


@pytest.mark.parametrize(
    "path", ["/sessions/abc/tokens\n", "/tokens/validate\n", "/sessions\n", "\n/sessions", "/sessions/abc/metadata\x00"]
)
def test_a_route_is_a_full_match(router: Router, path: str) -> None:
    """Nothing before or after the route's path, a final newline included (Python's `$` would allow one)."""
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert router.match(method, path) is None


def test_a_greedy_parameter_takes_newlines_too() -> None:
    router = Router([(Route("GET", "/files/{path+}"), "greedy")])
    found = router.match("GET", "/files/a\nb/c\n")
    assert isinstance(found, Match) and found.params == {"path": "a\nb/c\n"}
