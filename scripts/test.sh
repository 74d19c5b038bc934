#!/usr/bin/env bash
# Runs the checks of `make test`: formatting, clippy with warnings denied, the template checks
# (cfn-lint, sam validate), unit tests and the integration tests against moto servers that the
# tests start on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh

scripts/bootstrap.sh
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/check-template.sh
infra/terraform/check.sh
echo "== cargo test"
cargo test --workspace --locked
