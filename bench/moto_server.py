"""moto's ThreadedMotoServer in a process of its own: `python -m bench.moto_server`.

Prints its port on the first line of stdout and serves until stdin closes. A separate
process keeps the emulator's CPU out of the benchmark process's clocks (process_time) and
off its GIL, so a measured DynamoDB call costs what the client side of a real one costs.
"""

from __future__ import annotations

import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    try:
        sys.stdin.read()  # returns when the parent closes our stdin (or exits)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
