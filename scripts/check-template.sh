#!/usr/bin/env bash
# Checks infra/template.yaml offline: cfn-lint, then `sam validate --lint`. Outbound HTTP is
# pointed at a closed port of 127.0.0.1, so a check that tried to reach AWS would fail here
# instead of reaching it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
scripts/bootstrap.sh

export SAM_CLI_TELEMETRY=0
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=""
echo "== cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml
echo "== sam validate --lint"
.venv/bin/sam validate --lint --template infra/template.yaml
