"""`swaig-session`: the session service's routes from a shell, signed as the client signs.

    swaig-session --url https://<api-id>.execute-api.<region>.amazonaws.com/<stage> create call-1 --function get_weather
    swaig-session tokens call-1 get_weather transfer          # the URL from SWAIG_SESSION_URL
    swaig-session validate call-1 get_weather <token>
    swaig-session metadata set call-1 step '"greeting"'
    swaig-session end call-1

Each command prints the service's JSON answer on one line. Exit codes: 0 answered; 1 refused (a
4xx from the service or the gateway, throttling aside, or a token judged invalid); 2 a usage
error; 3 no verdict (unreachable, a 5xx, throttled, or an answer that is not the service's).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from session_rules import limits
from session_rules.codes import ErrorCode

from . import __version__, signing
from .errors import SessionServiceError, refused_here
from .transport import Transport, is_verdict

ANSWERED, REFUSED, USAGE, NO_VERDICT = 0, 1, 2, 3
URL_VARIABLE = "SWAIG_SESSION_URL"
TIMEOUT = (3.05, 30.0)  # connect, read: a cold start with the layer is a few seconds
DEADLINE_SECS = 35.0  # the whole command, retries included


def say(answer: dict[str, Any]) -> None:
    """An answer on stdout as the service writes its bodies: compact JSON, Unicode as is."""
    print(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))


def session_path(call_id: str, tail: str = "") -> str:
    if not limits.is_call_id(call_id):  # else it could address another route
        raise refused_here(ErrorCode.INVALID_CALL_ID, f"call_id must be {limits.CALL_ID_RULE}")
    return f"/sessions/{call_id}{tail}"


def json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{what} is not JSON: {exc}") from None


def metadata_object(text: str) -> dict[str, Any]:
    value = json_argument(text, "--metadata")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--metadata must be a JSON object")
    return value


def metadata_value(text: str) -> Any:
    """A value as JSON when it parses (42, true, {"a": 1}, '"42"'), else as the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """(method, path, body) of the command."""
    if args.command == "create":
        body: dict[str, Any] = {}
        if args.call_id is not None:
            session_path(args.call_id)
            body["call_id"] = args.call_id
        if args.metadata is not None:
            body["metadata"] = args.metadata
        if args.function:
            body["functions"] = args.function
        if args.no_restart:
            body["restart"] = False
        return "POST", "/sessions", body
    if args.command == "tokens":
        return "POST", session_path(args.call_id, "/tokens"), {"functions": args.functions}
    if args.command == "validate":
        return "POST", "/tokens/validate", {"call_id": args.call_id, "function": args.function, "token": args.token}
    if args.command == "debug":
        return "POST", "/tokens/debug", {"token": args.token}
    if args.command == "end":
        return "DELETE", session_path(args.call_id), None
    path = session_path(args.call_id, "/metadata")
    if args.action == "get":
        return "GET", path, None
    if args.action == "delete":
        return "DELETE", path, None
    if args.json is not None:
        return "PATCH", path, {"metadata": args.json}
    if args.key is None or args.value is None:
        raise refused_here(ErrorCode.MISSING_FIELD, "metadata set needs KEY VALUE or --json OBJECT")
    return "PATCH", path, {"key": args.key, "value": metadata_value(args.value)}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="swaig-session",
        description="Call the SWAIG session service: JSON out; exit 0 answered, 1 refused, 2 usage, 3 no verdict.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    top.add_argument(
        "--url", default=os.environ.get(URL_VARIABLE), help=f"the API's base URL (default: ${URL_VARIABLE})"
    )
    top.add_argument("--region", help="the region to sign for (default: from the URL, AWS_REGION or your AWS config)")
    sign = top.add_mutually_exclusive_group()
    sign.add_argument("--sign", dest="sign", action="store_true", default=None, help="always sign (SigV4)")
    sign.add_argument("--no-sign", dest="sign", action="store_false", help="never sign")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", help="start a call's session (POST /sessions)")
    create.add_argument("call_id", nargs="?", help="the call id (the service picks one when absent)")
    create.add_argument("--metadata", type=metadata_object, help="a JSON object to merge into the metadata")
    create.add_argument("--function", action="append", metavar="NAME", help="mint a token for NAME too (repeatable)")
    create.add_argument("--no-restart", action="store_true", help="refuse (409) rather than restart an ended session")

    tokens = commands.add_parser("tokens", help="mint tokens (POST /sessions/{call_id}/tokens)")
    tokens.add_argument("call_id")
    tokens.add_argument("functions", nargs="+", metavar="FUNCTION")

    validate = commands.add_parser("validate", help="check a token (POST /tokens/validate); exit 1 when invalid")
    validate.add_argument("call_id")
    validate.add_argument("function")
    validate.add_argument("token")

    debug = commands.add_parser("debug", help="a token's fields (POST /tokens/debug; the stack's DebugMode)")
    debug.add_argument("token")

    metadata = commands.add_parser("metadata", help="a session's metadata (GET, PATCH, DELETE)")
    actions = metadata.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("get", help="read it").add_argument("call_id")
    merge = actions.add_parser("set", help="merge KEY VALUE (VALUE read as JSON when it parses) or --json OBJECT")
    merge.add_argument("call_id")
    merge.add_argument("key", nargs="?")
    merge.add_argument("value", nargs="?")
    merge.add_argument("--json", type=metadata_object, metavar="OBJECT", help="a JSON object to merge")
    actions.add_parser("delete", help="remove it").add_argument("call_id")

    end = commands.add_parser("end", help="end a call's session (DELETE /sessions/{call_id})")
    end.add_argument("call_id")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    if not args.url:
        top.error(f"give --url or set {URL_VARIABLE}")
    if not args.url.startswith(("http://", "https://")):
        top.error(f"--url must be an http(s) URL, not {args.url!r}")
    try:
        method, path, body = request_for(args)
        auth = signing.auth_for(args.url, sign=args.sign, region=args.region)
    except SessionServiceError as exc:  # an input refused here, as the service would refuse it
        say({"error": exc.code, "message": exc.message})
        return REFUSED
    except ValueError as exc:  # no credentials, or no region to sign for
        top.error(str(exc))
    # The client's own transport: one deadline for the whole command, capped answers, signed.
    with contextlib.closing(Transport(args.url, auth=auth, timeout=TIMEOUT, deadline_secs=DEADLINE_SECS)) as service:
        try:
            status, answer = service.call(method, path, body)
        except SessionServiceError as exc:
            say({"error": exc.code, "message": exc.message})
            print(f"swaig-session: {method} {path}: {exc.status or exc.code}", file=sys.stderr)
            return REFUSED if is_verdict(exc) else NO_VERDICT
    say(answer)
    if answer.get("valid") is False:  # a token judged invalid is answered, and refused
        print(f"swaig-session: {method} {path}: {status}, not valid", file=sys.stderr)
        return REFUSED
    return ANSWERED


if __name__ == "__main__":
    sys.exit(main())
