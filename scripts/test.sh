#!/usr/bin/env bash
# Runs every check that CI runs: formatting, clippy with warnings denied, unit tests and the
# integration tests against moto servers that the tests start on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh

scripts/bootstrap.sh
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
