"""Run the moto server on 127.0.0.1 for the tests and the demo.

Prints "port=<n>" on standard output once the server accepts connections. The server stops when
its parent process exits or when it receives SIGTERM or SIGINT, so a test that is killed leaves
no server behind. Port 0 (the default) picks a free port.
"""

import argparse
import os
import signal
import sys
import threading
import time

from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1, 0 for a free one")
    args = parser.parse_args()

    parent = os.getppid()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"port={port}", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.is_set():
        if os.getppid() != parent:
            break
        stopping.wait(0.5)
    # serve_forever threads are daemons, so leaving the process stops the server at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
