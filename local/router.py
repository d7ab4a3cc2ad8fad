"""API Gateway's route selection, for the local front and the handler tests alike.

An HTTP API routes on, and hands the function, the request path percent-decoded once: `rawPath`,
`requestContext.http.path` and `pathParameters` are all decoded (evidence: docs/local-stack.md,
"The gateway's evidence"). A `%2F` therefore becomes a real `/`, a segment boundary: it never lands
inside one `{param}`.

A route matches the whole decoded path, nothing before or after it: AWS's route selection is "a
full match for a route and method", then a greedy path variable, then `$default`, else 404
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html,
"Routing API requests"). So the match is `fullmatch`, never `^...$`, whose `$` would also match
before a final newline (`/sessions/abc/tokens\n` is no route). Every other character, a control
character, a decoded `?` or `#` or NUL included, is part of its segment and of the path
parameter, so a function sees what it was routed by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from .template import Function, Route


@dataclass(frozen=True)
class Match:
    target: str  # the function's short name
    route: Route
    params: dict[str, str]


def decode_path(raw: str) -> str:
    """The request path as an HTTP API routes on it and sends it on: percent-decoded once.

    Bytes that are not UTF-8 become U+FFFD, which no call id accepts.
    """
    return unquote(raw, errors="replace")


def _compile(path: str) -> tuple[re.Pattern[str], list[str]]:
    """A route path as a regex over the whole decoded request path (fullmatch); `{name}` is one segment,
    `{name+}` the rest."""
    names: list[str] = []
    regex = ""
    for i, part in enumerate(re.split(r"\{([^}]+)\}", path)):  # literal, name, literal, ...
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            names.append(part.rstrip("+"))
            regex += "(.+)" if part.endswith("+") else "([^/]+)"
    return re.compile(regex, re.DOTALL), names


class Router:
    """API Gateway's route selection: the most specific matching path, then the method."""

    def __init__(self, routes: list[tuple[Route, str]]) -> None:
        compiled = [(route, target, *_compile(route.path)) for route, target in routes]
        # Literal paths win over parameters, and greedy parameters come last.
        compiled.sort(key=lambda r: ("+}" in r[0].path, len(r[3])))
        self._routes = compiled

    @property
    def routes(self) -> list[tuple[Route, str]]:
        return [(route, target) for route, target, _, _ in self._routes]

    def match(self, method: str, path: str) -> Match | None:
        """The route for `method path`, `path` already decoded (`decode_path`); None when there is none.

        An HTTP API route is a method and a path: a known path with another method matches nothing.
        """
        for route, target, regex, names in self._routes:
            found = regex.fullmatch(path)
            if found and route.method in (method, "ANY"):
                return Match(target, route, dict(zip(names, found.groups(), strict=True)))
        return None


def template_routes(functions: dict[str, Function]) -> list[tuple[Route, str]]:
    """Every HttpApi route of the template, with its function's short name as the target."""
    return [(route, name) for name, fn in functions.items() for route in fn.routes]
