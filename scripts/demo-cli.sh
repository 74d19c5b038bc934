# Sourced by scripts/demo.sh at its end, with moto, the demo estate, the catalog table $table
# and `cargo lambda watch` running: the developer CLI end to end. A developer and an approver
# use the eksgate CLI against the session issuer, the developer connects, and kubectl reaches a
# stand-in for payments-prod's API server (tests/support/eks_apiserver.py) through the context
# that `eksgate connect` wrote, authenticated by the exec plugin `eksgate credential`.
#
# It uses from demo.sh: $root, $LOCAL_DIR, $MOTO_ENDPOINT, $WATCH_PID, $cluster, $table, step
# and start_lambda_watch. It restarts the session issuer with the JWT settings of a test
# identity provider, because the API steps before it send API Gateway authorizer claims, which
# an issuer in self-verifying mode rejects.

cli_dir="$LOCAL_DIR/cli"
cli_bin="${CARGO_TARGET_DIR:-$root/target}/debug"
cli_developer=dev.two@example.com
cli_approver=alice@example.com

step "CLI: building eksgate and the test identity provider"
cargo build --quiet -p eksgate-cli --bin eksgate -p eksgate-tests --bin eksgate-idp
rm -rf "$cli_dir"
mkdir -m 700 -p "$cli_dir/developer" "$cli_dir/approver"
"$cli_bin/eksgate-idp" init --dir "$cli_dir/idp" > /dev/null
"$cli_bin/eksgate-idp" token --dir "$cli_dir/idp" --email "$cli_developer" --groups eks-users \
  > "$cli_dir/developer/token.jwt"
"$cli_bin/eksgate-idp" token --dir "$cli_dir/idp" --email "$cli_approver" --groups platform \
  > "$cli_dir/approver/token.jwt"
chmod 600 "$cli_dir"/*/token.jwt

step "CLI: restarting the session issuer in self-verifying mode (RS256 tokens, JWKS file)"
{
  cat "$LOCAL_DIR/functions.env"
  echo "EKSGATE_JWKS=file:$cli_dir/idp/jwks.json"
  echo "EKSGATE_JWT_ISSUER=https://idp.eksgate.test/oauth2/default"
  echo "EKSGATE_JWT_AUDIENCE=eksgate-cli"
} > "$cli_dir/functions.env"
kill -TERM -- "-$WATCH_PID" 2>/dev/null || kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
start_lambda_watch "$cli_dir/functions.env"
api_url="http://127.0.0.1:$WATCH_PORT/lambda-url/session-issuer"
echo "session API: $api_url"

step "CLI: a stand-in for payments-prod's API server on 127.0.0.1, checking EKS tokens against moto's STS"
cat > "$cli_dir/map-roles.json" <<'EOF'
[{"rolearn": "arn:aws:iam::123456789012:role/ClusterAdmin",
  "username": "eksgate:{{SessionName}}",
  "groups": ["eksgate:cluster-admins"]}]
EOF
mkdir -p "$cli_dir/apiserver"
mkfifo "$cli_dir/apiserver.stdin"
"$root/.venv/bin/python" "$root/tests/support/eks_apiserver.py" "$cli_dir/apiserver" \
  --sts-endpoint "$MOTO_ENDPOINT" --cluster-name payments-prod --region eu-west-1 \
  --map-roles "$cli_dir/map-roles.json" \
  < "$cli_dir/apiserver.stdin" > "$cli_dir/apiserver.out" 2> "$cli_dir/apiserver.err" &
# The stand-in exits when its standard input closes, so this shell keeps the FIFO open until
# it exits.
exec {apiserver_stdin}> "$cli_dir/apiserver.stdin"
apiserver_port=""
for _ in $(seq 1 100); do
  apiserver_port=$(sed -n 's/^port=//p' "$cli_dir/apiserver.out")
  [[ -n "$apiserver_port" ]] && break
  sleep 0.1
done
[[ -n "$apiserver_port" ]] || { cat "$cli_dir/apiserver.err" >&2; echo "the stand-in API server did not start" >&2; exit 1; }
echo "stand-in API server: https://127.0.0.1:$apiserver_port"

step "CLI: pointing payments-prod's catalog entry at the stand-in (moto's clusters have no API server)"
ca_data=$(base64 -w0 "$cli_dir/apiserver/ca.pem")
"$root/.venv/bin/aws" dynamodb update-item --endpoint-url "$MOTO_ENDPOINT" --region eu-west-1 \
  --table-name "$table" \
  --key "{\"pk\":{\"S\":\"CLUSTER#$cluster\"},\"sk\":{\"S\":\"CLUSTER\"}}" \
  --update-expression "SET endpoint = :endpoint, ca_data = :ca" \
  --expression-attribute-values "{\":endpoint\":{\"S\":\"https://127.0.0.1:$apiserver_port\"},\":ca\":{\"S\":\"$ca_data\"}}" \
  > /dev/null

# Runs a command as one of the two users: their own HOME (eksgate configuration, credential
# cache, kubeconfig), eksgate on PATH, and no proxy for 127.0.0.1.
as_user() {
  local user=$1
  shift
  HOME="$cli_dir/$user" KUBECONFIG="$cli_dir/$user/.kube/config" PATH="$cli_bin:$PATH" \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 "$@"
}

step "CLI: both users configure eksgate: the API URL and a command that prints their identity token"
as_user developer eksgate configure --api-url "$api_url" \
  --token-command "cat $cli_dir/developer/token.jwt"
as_user approver eksgate configure --api-url "$api_url" \
  --token-command "cat $cli_dir/approver/token.jwt" > /dev/null

step "CLI: $cli_developer lists the clusters and the roles of payments-prod"
as_user developer eksgate clusters --timeout 600
as_user developer eksgate roles --cluster payments-prod

step "CLI: $cli_developer requests ClusterAdmin on payments-prod for 2h, naming the cluster by name"
cli_request_id=$(as_user developer eksgate request --cluster payments-prod --role ClusterAdmin \
  --duration 2h --reason "INC-1234: payments pods crash-looping" --output json \
  | "$root/.venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["request"]["id"])')
as_user developer eksgate requests

step "CLI: $cli_approver lists the pending requests and approves this one"
as_user approver eksgate requests --pending
as_user approver eksgate approve "$cli_request_id" --reason "on call this week"

step "CLI: $cli_developer connects: eksgate writes an exec plugin context into ~/.kube/config"
as_user developer eksgate grants
as_user developer eksgate connect --cluster payments-prod --role ClusterAdmin
as_user developer kubectl config get-contexts

step "CLI: $cli_approver reads the sessions and today's audit trail"
as_user approver eksgate sessions --all
as_user approver eksgate audit

step "CLI: kubectl reaches the stand-in through the context that eksgate connect wrote"
as_user developer kubectl auth whoami --request-timeout=60s
