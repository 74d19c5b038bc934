#!/usr/bin/env bash
# Runs the importer benchmark on a local moto server: `scripts/bench.sh [--clusters N]
# [--regions R] [--concurrency C]` (defaults 1000, 4, 8). Results go to standard output as one
# JSON line per run; docs/benchmarks.md records them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh

scripts/bootstrap.sh
cargo build --quiet --profile bench-local -p eksgate-tests --bin bench-import
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)" >&2
target/bench-local/bench-import "$@"
