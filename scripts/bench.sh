#!/usr/bin/env bash
# Runs a benchmark on a local moto server, with the optimised bench-local build:
#   scripts/bench.sh import [--clusters N] [--regions R] [--accounts A] [--concurrency C] [--sweep C1,C2]
#                                                                            (1000, 4, 1, 8, none)
#   scripts/bench.sh tag-events [--events N]                                 (200)
#   scripts/bench.sh session [--rounds N] [--concurrency C] [--requests R]    (100, 16, 400)
#   scripts/bench.sh faults [--clusters N] [--regions R] [--runs K] [--fault-percents P1,P2]
# Results go to standard output as JSON lines; docs/benchmarks.md records them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh

which=${1:-import}
shift || true
case "$which" in
  import | tag-events | session | faults) ;;
  *) echo "unknown benchmark ${which@Q}: use import, tag-events, session or faults" >&2; exit 2 ;;
esac

scripts/bootstrap.sh
cargo build --quiet --profile bench-local -p eksgate-tests --bin "bench-$which"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)" >&2
"target/bench-local/bench-$which" "$@"
