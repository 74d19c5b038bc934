#!/usr/bin/env bash
# Measures one kubectl credential call by the eksgate exec plugin, cached and uncached, and
# `aws eks get-token` (awscli v1 from .venv) in the same run on this machine. Usage, with the
# defaults in parentheses:
#   scripts/bench-cli.sh [--calls N] [--uncached-calls M]        (200, 30)
# It starts moto and the session issuer (bench-local build, under cargo lambda watch) on
# 127.0.0.1 and imports the demo estate. A developer gets ClusterAdmin on payments-prod through
# the CLI. Then each kind of call runs as kubectl runs it, a new process each time. Results go
# to standard output as JSON lines, and docs/benchmarks.md records them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
source scripts/local.sh
# Its own folder, so that a demo running at the same time keeps its files.
LOCAL_DIR="$root/.local/bench-cli"

calls=200
uncached_calls=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --uncached-calls) uncached_calls=$2; shift 2 ;;
    *) echo "unknown option ${1@Q}: use --calls N or --uncached-calls M" >&2; exit 2 ;;
  esac
done

scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin="$target_dir/bench-local"
cargo build --quiet --profile bench-local -p eksgate-cli --bin eksgate \
  -p eksgate-tests --bin eksgate-idp --bin eksgate-dev
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m), $(date -u +%Y-%m-%d)" >&2
# Other work on the same cores slows every case; the load average shows how much there was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

table=eksgate-bench-cli
cluster=arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod
work="$LOCAL_DIR"
rm -rf "$work"
mkdir -m 700 -p "$work"

start_moto
"$bin/eksgate-dev" create-table --endpoint "$MOTO_ENDPOINT" --table "$table" >&2
"$bin/eksgate-dev" seed --endpoint "$MOTO_ENDPOINT" >&2

"$bin/eksgate-idp" init --dir "$work/idp" >&2
cat > "$work/functions.env" <<EOF
AWS_ENDPOINT_URL=$MOTO_ENDPOINT
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_EC2_METADATA_DISABLED=true
AWS_REGION=eu-west-1
EKSGATE_TABLE_NAME=$table
EKSGATE_REGIONS=eu-west-1,us-east-1
EKSGATE_MEMBER_ROLE_ARNS=arn:aws:iam::222233334444:role/eksgate-read
EKSGATE_LOG_FORMAT=text
EKSGATE_APPROVER_GROUPS=platform
EKSGATE_JWKS=file:$work/idp/jwks.json
EKSGATE_JWT_ISSUER=https://idp.eksgate.test/oauth2/default
EKSGATE_JWT_AUDIENCE=eksgate-cli
EOF

# As start_lambda_watch in scripts/local.sh, with the bench-local profile, so the uncached
# figures include an optimised session issuer. WATCH_PID lets stop_local end it on exit.
WATCH_PORT=$(free_port)
setsid cargo lambda watch --profile bench-local --invoke-address 127.0.0.1 \
  --invoke-port "$WATCH_PORT" --ignore-changes --env-file "$work/functions.env" \
  > "$work/watch.log" 2>&1 &
WATCH_PID=$!
for _ in $(seq 1 300); do
  "$root/.venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $WATCH_PORT), 0.2)" 2>/dev/null && break
  kill -0 "$WATCH_PID" 2>/dev/null || { cat "$work/watch.log" >&2; echo "cargo lambda watch exited" >&2; exit 1; }
  sleep 0.2
done
echo "importing the demo estate (the first invoke compiles the importer)" >&2
invoke_lambda importer tests/fixtures/events/scheduled.json > /dev/null

# Each user has a home with an eksgate configuration whose token command prints their token,
# the way kubelogin get-token would.
api_url="http://127.0.0.1:$WATCH_PORT/lambda-url/session-issuer"
as_user() {
  local user=$1
  shift
  HOME="$work/$user" "$bin/eksgate" "$@"
}
for user in developer approver; do
  mkdir -m 700 -p "$work/$user"
done
"$bin/eksgate-idp" token --dir "$work/idp" --email dev.bench@example.com --groups eks-users \
  > "$work/developer/token.jwt"
"$bin/eksgate-idp" token --dir "$work/idp" --email alice@example.com --groups platform \
  > "$work/approver/token.jwt"
chmod 600 "$work"/*/token.jwt
for user in developer approver; do
  as_user "$user" configure --api-url "$api_url" --token-command "cat $work/$user/token.jwt" > /dev/null
done

echo "granting ClusterAdmin (the first API call compiles the session issuer)" >&2
as_user developer clusters --timeout 1200 > /dev/null
request_id=$(as_user developer request --cluster "$cluster" --role ClusterAdmin --duration 2h \
  --reason "benchmark" --output json | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["request"]["id"])')
as_user approver approve "$request_id" > /dev/null

# Prints one JSON line with the median, p90, mean and max of the durations (microseconds, one
# a line) on standard input.
summarise() {
  "$root/.venv/bin/python" -c '
import json, statistics, sys
name, command = sys.argv[1], sys.argv[2]
times = sorted(int(line) / 1000 for line in sys.stdin if line.strip())
p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
print(json.dumps({"case": name, "calls": len(times), "median_ms": round(statistics.median(times), 2),
                  "p90_ms": round(p90, 2), "mean_ms": round(statistics.fmean(times), 2),
                  "max_ms": round(times[-1], 2), "command": command}))
' "$@"
}

# Runs "$@" $count times and prints each call's wall time in microseconds, from bash's
# $EPOCHREALTIME. $before runs before each call, outside the timing. The output goes to a file,
# as kubectl reads it from a pipe; the last one is checked after the loop.
time_calls() {
  local count=$1 before=$2
  shift 2
  local start end
  for _ in $(seq 1 "$count"); do
    $before
    start=$EPOCHREALTIME
    "$@" > "$work/output"
    end=$EPOCHREALTIME
    echo $(( ${end/./} - ${start/./} ))
  done
  grep -Eq '"token": ?"k8s-aws-v1[.]' "$work/output" || { echo "the last call printed no EKS token" >&2; exit 1; }
}
no_op() { :; }
clear_cache() { rm -rf "$work/developer/.cache/eksgate"; }
plugin=("$bin/eksgate" credential --cluster "$cluster" --role ClusterAdmin)

(
  export HOME="$work/developer"
  # One call fills the cache.
  "${plugin[@]}" > /dev/null

  time_calls "$calls" no_op "${plugin[@]}" \
    | summarise "eksgate credential, cached, token command configured (a hit does not run it)" \
      "eksgate credential --cluster <ARN> --role ClusterAdmin"
  time_calls "$uncached_calls" clear_cache "${plugin[@]}" \
    | summarise "eksgate credential, uncached: a new session from the local API" \
      "rm -r ~/.cache/eksgate; eksgate credential --cluster <ARN> --role ClusterAdmin"
  time_calls "$uncached_calls" no_op aws eks get-token --cluster-name payments-prod --region eu-west-1 \
    | summarise "aws eks get-token, awscli $(aws --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2)" \
      "aws eks get-token --cluster-name payments-prod --region eu-west-1"

  EKSGATE_TOKEN=$(cat "$work/developer/token.jwt")
  export EKSGATE_TOKEN
  "${plugin[@]}" > /dev/null
  time_calls "$calls" no_op "${plugin[@]}" \
    | summarise "eksgate credential, cached, token from EKSGATE_TOKEN" \
      "EKSGATE_TOKEN=<jwt> eksgate credential --cluster <ARN> --role ClusterAdmin"
)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
