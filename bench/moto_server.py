"""The local stack's moto server in a process of its own: `python -m bench.moto_server`.

Prints its port on the first line of stdout and serves until stdin closes. A separate
process keeps the emulator's CPU out of the benchmark process's clocks (process_time) and
off its GIL, so a measured DynamoDB call costs what the client side of a real one costs.
"""

from __future__ import annotations

import sys

from local.moto_server import MotoServer


def main() -> None:
    with MotoServer() as moto:
        print(moto.port, flush=True)
        sys.stdin.read()  # returns when the parent closes our stdin (or exits)


if __name__ == "__main__":
    main()
