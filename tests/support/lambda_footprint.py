"""Measure a Lambda bootstrap's footprint against a local stand-in for the Lambda Runtime API.

Usage: lambda_footprint.py BOOTSTRAP EVENT_FILE [EVENT_FILE ...] [--env NAME=VALUE ...]

The script serves the Runtime API (`/2018-06-01/runtime/...`) on a free port of 127.0.0.1,
starts BOOTSTRAP with AWS_LAMBDA_RUNTIME_API pointing at it and the given environment, and
hands it the events in order, each once. It prints one JSON line with:

- size_bytes: the bootstrap's file size;
- init_ms: time from starting the process to its first request for an event, which is when
  the function is ready;
- invocations: for each event, the time from handing it out to receiving the response, and
  whether the function reported an error;
- peak_rss_mib: the process's peak resident memory (VmHWM from /proc) after the last event.

The process is stopped when the script ends.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"
PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self, events):
        self.events = queue.Queue()
        for index, event in enumerate(events):
            self.events.put((f"request-{index}", event))
        self.first_poll = None
        self.handed_out = {}
        self.results = queue.Queue()


def make_handler(api):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=None):
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                self.reply(404)
                return
            if api.first_poll is None:
                api.first_poll = time.monotonic()
            request_id, event = api.events.get()
            api.handed_out[request_id] = time.monotonic()
            deadline = int(time.time() * 1000) + 300_000
            self.reply(
                200,
                json.dumps(event).encode(),
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123456789012:function:footprint",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                },
            )

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length)
            parts = self.path[len(PREFIX):].strip("/").split("/")
            if parts[:1] == ["init"]:
                api.results.put(("init-error", None, body.decode(errors="replace")))
            elif len(parts) == 3 and parts[0] == "invocation":
                request_id, kind = parts[1], parts[2]
                elapsed = (time.monotonic() - api.handed_out.get(request_id, time.monotonic())) * 1000
                api.results.put((kind, elapsed, body.decode(errors="replace")))
            self.reply(202, b"{}", {"Content-Type": "application/json"})

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The bootstrap is killed while it waits for its next event; that broken connection is
        # expected, and any other error still gets reported.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    args = sys.argv[1:]
    env_pairs = []
    while "--env" in args:
        index = args.index("--env")
        env_pairs.append(args[index + 1])
        del args[index : index + 2]
    bootstrap, event_files = args[0], args[1:]
    events = [json.load(open(path)) for path in event_files]

    api = RuntimeApi(events)
    server = QuietServer((LOOPBACK, 0), make_handler(api))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"{LOOPBACK}:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "footprint",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for pair in env_pairs:
        name, _, value = pair.partition("=")
        env[name] = value

    started = time.monotonic()
    process = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    invocations = []
    try:
        for _ in events:
            kind, elapsed, body = api.results.get(timeout=120)
            if kind == "init-error":
                raise SystemExit(f"{bootstrap} failed to start: {body}")
            invocation = {"ms": round(elapsed, 2), "error": kind == "error"}
            try:
                status = json.loads(body).get("statusCode")
            except (ValueError, AttributeError):
                status = None
            if status is not None:
                invocation["status"] = status
            invocations.append(invocation)
        rss = peak_rss_mib(process.pid)
    finally:
        process.kill()
        process.wait()
        server.shutdown()
    init_ms = (api.first_poll - started) * 1000 if api.first_poll else None
    print(
        json.dumps(
            {
                "bootstrap": bootstrap,
                "size_bytes": os.path.getsize(bootstrap),
                "init_ms": round(init_ms, 2) if init_ms is not None else None,
                "invocations": invocations,
                "peak_rss_mib": rss,
            }
        )
    )


if __name__ == "__main__":
    main()
