#!/usr/bin/env bash
# Measures each function's release bootstrap (from `make build`): file size, time from process
# start to ready (its first request for an event), time per invocation and peak memory. Each
# bootstrap runs against a local stand-in for the Lambda Runtime API and a moto server, both on
# 127.0.0.1, with a seeded demo estate. Prints one JSON line per function.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
source scripts/local.sh

build="$root/.aws-sam/build"
for function in ImporterFunction TagEventsFunction SessionIssuerFunction; do
  [[ -x "$build/$function/bootstrap" ]] || { echo "missing $build/$function/bootstrap: run make build first" >&2; exit 1; }
done
scripts/bootstrap.sh
cargo build --quiet -p eksgate-tests --bin eksgate-dev
dev="$root/target/debug/eksgate-dev"
table=eksgate-footprint
python="$root/.venv/bin/python"
measure="$root/tests/support/lambda_footprint.py"

start_moto
"$dev" create-table --endpoint "$MOTO_ENDPOINT" --table "$table" > /dev/null
"$dev" seed --endpoint "$MOTO_ENDPOINT" > /dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)" >&2

common=(--env "AWS_ENDPOINT_URL=$MOTO_ENDPOINT" --env AWS_ACCESS_KEY_ID=testing
  --env AWS_SECRET_ACCESS_KEY=testing --env AWS_REGION=eu-west-1 --env AWS_CONFIG_FILE=/dev/null
  --env AWS_SHARED_CREDENTIALS_FILE=/dev/null --env "EKSGATE_TABLE_NAME=$table")
scheduled=tests/fixtures/events/scheduled.json

"$python" "$measure" "$build/ImporterFunction/bootstrap" "$scheduled" "$scheduled" "$scheduled" \
  "${common[@]}" --env EKSGATE_REGIONS=eu-west-1,us-east-1 \
  --env EKSGATE_MEMBER_ROLE_ARNS=arn:aws:iam::222233334444:role/eksgate-read

cluster=arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod
sed -e "s|arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod|$cluster|" \
    -e 's|"111122223333"|"123456789012"|' \
  tests/fixtures/events/tag-change-on-resource.json > "$LOCAL_DIR/footprint-tag.json"
tag_events=()
for _ in 1 2 3 4 5; do tag_events+=("$LOCAL_DIR/footprint-tag.json"); done
"$python" "$measure" "$build/TagEventsFunction/bootstrap" "${tag_events[@]}" "${common[@]}"

developer=dev.one@example.com
"$dev" api-event --user "$developer" --groups eks-users --method GET --path /clusters > "$LOCAL_DIR/footprint-list.json"
"$dev" api-event --user "$developer" --groups eks-users --method POST --path /requests \
  --body "{\"cluster\":\"$cluster\",\"role\":\"ClusterView\",\"duration\":\"1h\",\"reason\":\"footprint\"}" > "$LOCAL_DIR/footprint-request.json"
"$dev" api-event --user "$developer" --groups eks-users --method POST --path /sessions \
  --body "{\"cluster\":\"$cluster\",\"role\":\"ClusterView\"}" > "$LOCAL_DIR/footprint-session.json"
"$python" "$measure" "$build/SessionIssuerFunction/bootstrap" \
  "$LOCAL_DIR/footprint-list.json" "$LOCAL_DIR/footprint-request.json" \
  "$LOCAL_DIR/footprint-session.json" "$LOCAL_DIR/footprint-session.json" "$LOCAL_DIR/footprint-list.json" \
  "${common[@]}" --env EKSGATE_APPROVER_GROUPS=platform \
  --env 'EKSGATE_AUTO_APPROVE=[{"name":"read-only","roles":["ClusterView"]}]'
