#!/usr/bin/env bash
# The end-to-end demo on local AWS: starts moto on 127.0.0.1, creates the catalog table from
# infra/template.yaml, builds a demo EKS estate, runs the importer as the real Lambda binary
# under `cargo lambda watch` with the scheduled event, changes tags, imports again, delivers a
# tag-change event to the tag-change handler, runs the session API flow (a developer requests a
# role, an approver approves, the developer connects) through the real session-issuer binary
# with HTTP API events, and stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
source scripts/local.sh

scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
table=eksgate-demo

step "Building the functions and the demo tool"
cargo build --quiet -p eksgate-importer -p eksgate-tag-events -p eksgate-session-issuer -p eksgate-tests \
  --bin importer --bin tag-events --bin session-issuer --bin eksgate-dev
dev="$root/target/debug/eksgate-dev"

step "Starting moto on 127.0.0.1"
start_moto
echo "moto listens on $MOTO_ENDPOINT"

step "Creating the catalog table from infra/template.yaml"
"$dev" create-table --endpoint "$MOTO_ENDPOINT" --table "$table"

step "Creating the demo EKS estate"
"$dev" seed --endpoint "$MOTO_ENDPOINT"

step "Starting the functions under cargo lambda watch (127.0.0.1)"
cat > "$LOCAL_DIR/functions.env" <<EOF
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
EKSGATE_AUTO_APPROVE='[{"name":"read-only","roles":["ClusterView"],"max_duration":"4h"}]'
EOF
start_lambda_watch "$LOCAL_DIR/functions.env"

step "Import run 1: the scheduled event"
invoke_lambda importer tests/fixtures/events/scheduled.json

step "The catalog after run 1"
"$dev" show --endpoint "$MOTO_ENDPOINT" --table "$table"

step "Changing the estate"
"$dev" change --endpoint "$MOTO_ENDPOINT"

step "Import run 2"
invoke_lambda importer tests/fixtures/events/scheduled.json

step "The catalog after run 2"
"$dev" show --endpoint "$MOTO_ENDPOINT" --table "$table"

step "Import run 3: nothing changed, so nothing is written"
invoke_lambda importer tests/fixtures/events/scheduled.json

step "A tag change reaches the catalog in seconds: the tag-change handler"
cluster=arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod
"$dev" tag --endpoint "$MOTO_ENDPOINT" --cluster "$cluster" --tag opal:eks:role:4=Auditor
# The event EventBridge delivers for that change, in the shape of the aws.tag sample event.
sed -e "s|arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod|$cluster|" \
    -e 's|"111122223333"|"123456789012"|' \
    -e 's|"opal:eks:role:2"\]|"opal:eks:role:4"]|' \
  tests/fixtures/events/tag-change-on-resource.json > "$LOCAL_DIR/tag-change.json"
invoke_lambda tag-events "$LOCAL_DIR/tag-change.json"

step "The catalog after the tag-change event"
"$dev" show --endpoint "$MOTO_ENDPOINT" --table "$table"

# Session API calls: each builds the HTTP API event that API Gateway would deliver after its
# JWT authorizer verified the caller's token, and invokes the session-issuer binary with it.
api() {
  local user=$1 groups=$2 method=$3 path=$4 body=${5:-}
  local event="$LOCAL_DIR/api-event.json"
  "$dev" api-event --user "$user" --groups "$groups" --method "$method" --path "$path" \
    ${body:+--body "$body"} > "$event"
  invoke_lambda session-issuer "$event" > "$LOCAL_DIR/api-response.json"
}
developer=dev.one@example.com
approver=alice@example.com

step "Session API: $developer lists the clusters"
api "$developer" eks-users GET /clusters
"$dev" api-response --summary < "$LOCAL_DIR/api-response.json"

step "Session API: $developer requests ClusterAdmin on payments-prod for 2h"
api "$developer" eks-users POST /requests \
  "{\"cluster\":\"$cluster\",\"role\":\"ClusterAdmin\",\"duration\":\"2h\",\"reason\":\"INC-1234: payments pods crash-looping\"}"
"$dev" api-response < "$LOCAL_DIR/api-response.json"
request_id=$("$dev" api-response --field request.id < "$LOCAL_DIR/api-response.json")

step "Session API: connecting before approval is refused"
api "$developer" eks-users POST /sessions "{\"cluster\":\"$cluster\",\"role\":\"ClusterAdmin\"}"
"$dev" api-response < "$LOCAL_DIR/api-response.json" || true

step "Session API: $approver sees the pending request and approves it"
api "$approver" platform GET "/requests?scope=pending"
"$dev" api-response < "$LOCAL_DIR/api-response.json"
api "$approver" platform POST "/requests/$request_id/approve" '{"reason":"on call this week"}'
"$dev" api-response < "$LOCAL_DIR/api-response.json"

step "Session API: $developer connects (credentials and token masked)"
api "$developer" eks-users POST /sessions "{\"cluster\":\"$cluster\",\"role\":\"ClusterAdmin\"}"
"$dev" api-response < "$LOCAL_DIR/api-response.json"

step "Session API: $approver reads today's audit trail"
api "$approver" platform GET /audit
"$dev" api-response < "$LOCAL_DIR/api-response.json"

# The developer CLI: a second developer requests, an approver approves, and `eksgate connect`
# writes a kubeconfig context through which kubectl reaches a local stand-in EKS API server.
source scripts/demo-cli.sh

step "Demo finished; stopping cargo lambda watch and moto"
