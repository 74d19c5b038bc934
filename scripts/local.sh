# Sourced by the demo and benchmark scripts: starts moto and `cargo lambda watch` on 127.0.0.1
# and stops both when the calling script exits, however it exits.

LOCAL_DIR="$root/.local"
mkdir -p "$LOCAL_DIR"
MOTO_PID=""
WATCH_PID=""

step() {
  printf '\n==> %s\n' "$*"
}

stop_local() {
  if [[ -n "$WATCH_PID" ]]; then
    # cargo lambda watch runs the function in child processes: stop the whole group.
    kill -TERM -- "-$WATCH_PID" 2>/dev/null || kill -TERM "$WATCH_PID" 2>/dev/null || true
    wait "$WATCH_PID" 2>/dev/null || true
  fi
  if [[ -n "$MOTO_PID" ]]; then
    kill -TERM "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
}
trap stop_local EXIT

# Starts moto on a free port of 127.0.0.1 and sets MOTO_ENDPOINT.
start_moto() {
  local out="$LOCAL_DIR/moto.out"
  : > "$out"
  "$root/.venv/bin/python" "$root/scripts/moto_server.py" > "$out" 2> "$LOCAL_DIR/moto.err" &
  MOTO_PID=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^port=//p' "$out")
    [[ -n "$port" ]] && break
    kill -0 "$MOTO_PID" 2>/dev/null || { cat "$LOCAL_DIR/moto.err" >&2; echo "moto failed to start" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "moto did not report its port within 10 s" >&2; exit 1; }
  MOTO_ENDPOINT="http://127.0.0.1:$port"
}

# Returns a free TCP port on 127.0.0.1.
free_port() {
  "$root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts `cargo lambda watch` bound to 127.0.0.1 with the environment file $1, and sets
# WATCH_PORT.
start_lambda_watch() {
  WATCH_PORT=$(free_port)
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
    --ignore-changes --env-file "$1" > "$LOCAL_DIR/watch.log" 2>&1 &
  WATCH_PID=$!
  for _ in $(seq 1 300); do
    if "$root/.venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $WATCH_PORT), 0.2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$WATCH_PID" 2>/dev/null || { cat "$LOCAL_DIR/watch.log" >&2; echo "cargo lambda watch exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "cargo lambda watch did not listen on 127.0.0.1:$WATCH_PORT within 60 s" >&2
  exit 1
}

# Invokes function $1 with the event file $2 and prints the function's result.
invoke_lambda() {
  cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
    --data-file "$2" --output-format json
  echo
}
