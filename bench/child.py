"""A fresh process for the cold-start and memory cases: `python -m bench.child <mode> [events]`.

Modes:
  boto3     import boto3 and nothing else (the floor any Python Lambda function with AWS calls pays)
  secret    import boto3, create the Secrets Manager client the core creates (session_core.config)
            and read the signing key once: the floor of any function that reads its key there
  validate  import functions/validate as Lambda does (`app` module, layer on the path) and answer
            `events` requests (1: a cold start), the first taken from $BENCH_EVENT

Both end by printing `BENCH_CHILD {"maxrss_kb": ..., "ru_maxrss_kb": ...}`. The handler's own output
(EMF metrics) goes to the same stdout, as it would in Lambda.

maxrss_kb is the peak RSS of this process's own address space (VmHWM in /proc/self/status).
getrusage(RUSAGE_SELF).ru_maxrss is reported too but is not used on Linux: it survives execve,
so it still holds the peak of the spawning process (the benchmark, ~100 MB) that the child was
forked from, and every child reads the same inflated number.
"""

from __future__ import annotations

import sys


def _layer_path(*function: str) -> None:
    """Lambda's path order: the function's code (/var/task), then the layer (/opt/python)."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:0] = [os.path.join(root, *function), os.path.join(root, "shared")]


def _secret() -> None:
    import os

    import boto3  # noqa: F401 - the baseline's import, made explicit

    _layer_path()
    from session_core.config import client

    client("secretsmanager").get_secret_value(SecretId=os.environ["SIGNING_SECRET_ID"], VersionStage="AWSCURRENT")


def _validate(events: int) -> None:
    import json
    import os

    _layer_path("functions", "validate")
    import app

    from local.lambda_runtime import LambdaContext, http_event

    first = json.loads(os.environ["BENCH_EVENT"])
    body = json.loads(first["body"])
    for i in range(events):
        event = first if i == 0 else http_event("POST", first["rawPath"], body)
        response = app.lambda_handler(event, LambdaContext())
        if response.get("statusCode") != 200 or json.loads(response["body"]) != {"valid": True}:
            sys.exit(f"validate answered {response!r}")


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else ""
    if mode == "boto3":
        import boto3  # noqa: F401
    elif mode == "secret":
        _secret()
    elif mode == "validate":
        _validate(int(argv[1]) if len(argv) > 1 else 1)
    else:
        sys.exit(f"usage: python -m bench.child boto3|secret|validate [events]; got {argv!r}")
    import resource

    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f'BENCH_CHILD {{"maxrss_kb": {_peak_rss_kb() or ru_maxrss}, "ru_maxrss_kb": {ru_maxrss}}}', flush=True)


def _peak_rss_kb() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main(sys.argv[1:])
