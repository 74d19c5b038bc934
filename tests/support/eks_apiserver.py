"""Serve a stand-in EKS API server over HTTPS on 127.0.0.1 that authenticates EKS bearer tokens.

Usage: eks_apiserver.py DIR --sts-endpoint URL --cluster-name NAME --region REGION --map-roles FILE

It authenticates every request the way the EKS API server (aws-iam-authenticator) does, with
the moto server at --sts-endpoint standing in for STS:

1. The token is `k8s-aws-v1.` and the base64url text, without padding, of a presigned URL
   https://sts.<region>.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-...
   whose query holds only Action, Version and X-Amz-* parameters, each once, with
   X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-SignedHeaders=host;x-k8s-aws-id, X-Amz-Expires=60, an
   X-Amz-Date no more than 15 minutes in the past (and at most 1 minute in the future), and an
   X-Amz-Credential scope <key>/<date>/<region>/sts/aws4_request of the same day and region.
2. The SigV4 signature is recomputed for the header x-k8s-aws-id: <cluster name>, so a token
   signed for another cluster or with another key is rejected. STS would do this, but moto does
   not check signatures. The secret key and session token of the access key come from moto's
   state (GET /moto-api/data.json), so only keys of roles assumed in moto authenticate.
3. The presigned request is forwarded to moto as a POST with the body
   Action=GetCallerIdentity&Version=2011-06-15 and an Authorization header that carries the
   same credential scope and signature, because moto reads the caller from that header only.
4. The assumed-role ARN it returns is mapped through --map-roles, an aws-auth style JSON list
   of {"rolearn", "username", "groups"} whose role ARNs have no path. `{{SessionName}}` in a
   username becomes the session name with `@` replaced by `-`, `{{SessionNameRaw}}` the session
   name as it is, and `{{AccountID}}` the account.

A request that fails any step gets 401. An authenticated request gets /version, the discovery
paths, the pod list of the default namespace, or a SelfSubjectReview with the mapped user.

At start-up it creates a throwaway CA and a server certificate for 127.0.0.1, writes the CA
certificate to DIR/ca.pem and prints "port=<n>" on standard output. It appends one JSON line
per request to DIR/requests.jsonl with the method, path, and either the user name and access
key or the reason for the rejection. The log never contains the token. The server exits when
its standard input closes.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fake_kube_apiserver import (
    CORE_V1_RESOURCES,
    EMPTY_POD_LIST,
    LOOPBACK,
    VERSION,
    create_certificates,
    exit_at_end_of_input,
)

TOKEN_PREFIX = "k8s-aws-v1."
ALLOWED_PLAIN_PARAMS = {"Action", "Version"}
REQUIRED_PARAMS = {
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
}
TOKEN_LIFETIME = datetime.timedelta(minutes=15)
CLOCK_SKEW = datetime.timedelta(minutes=1)
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
STS_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# Proxy settings in the environment are ignored: every call goes straight to moto on 127.0.0.1.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ASSUMED_ROLE_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")


class Rejected(Exception):
    """A token that EKS would not accept. The message gives the reason."""


class Authenticator:
    def __init__(self, sts_endpoint: str, cluster_name: str, region: str, map_roles: list):
        self.sts_endpoint = sts_endpoint.rstrip("/")
        self.cluster_name = cluster_name
        self.region = region
        self.host = f"sts.{region}.amazonaws.com"
        self.map_roles = map_roles

    def authenticate(self, authorization: str | None, now: datetime.datetime) -> dict:
        """Return the user info of a bearer token, or raise Rejected."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Rejected("no bearer token")
        params = self.check_url(authorization[len("Bearer "):].strip(), now)
        self.check_signature(params)
        caller = self.get_caller_identity(params)
        return self.map_caller(caller, params)

    def check_url(self, token: str, now: datetime.datetime) -> dict:
        if not token.startswith(TOKEN_PREFIX):
            raise Rejected("the token does not start with k8s-aws-v1.")
        body = token[len(TOKEN_PREFIX):]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", body):
            raise Rejected("the token is not base64url without padding")
        try:
            url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise Rejected("the token does not decode to a URL")

        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or parts.netloc != self.host or parts.path != "/":
            raise Rejected(f"the URL is not https://{self.host}/")
        if parts.fragment:
            raise Rejected("the URL has a fragment")
        try:
            pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise Rejected("the query does not parse")
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise Rejected("a query parameter appears twice")
        unexpected = [n for n in names if n not in ALLOWED_PLAIN_PARAMS and not n.startswith("X-Amz-")]
        if unexpected:
            raise Rejected(f"unexpected query parameters {unexpected}")

        params = dict(pairs)
        missing = REQUIRED_PARAMS - params.keys()
        if missing:
            raise Rejected(f"missing query parameters {sorted(missing)}")
        expected = {
            "Action": "GetCallerIdentity",
            "Version": "2011-06-15",
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-SignedHeaders": "host;x-k8s-aws-id",
            "X-Amz-Expires": "60",
        }
        for name, value in expected.items():
            if params[name] != value:
                raise Rejected(f"{name} is {params[name]!r}, expected {value!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", params["X-Amz-Signature"]):
            raise Rejected("X-Amz-Signature is not 64 hex digits")

        try:
            signed_at = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc
            )
        except ValueError:
            raise Rejected("X-Amz-Date is not yyyymmddThhmmssZ")
        if now - signed_at > TOKEN_LIFETIME:
            raise Rejected("the token is older than 15 minutes")
        if signed_at - now > CLOCK_SKEW:
            raise Rejected("X-Amz-Date is in the future")

        scope = params["X-Amz-Credential"].split("/")
        if len(scope) != 5 or scope[1:] != [params["X-Amz-Date"][:8], self.region, "sts", "aws4_request"]:
            raise Rejected("X-Amz-Credential is not <key>/<date>/<region>/sts/aws4_request")
        return params

    def moto_state(self) -> dict:
        with DIRECT.open(f"{self.sts_endpoint}/moto-api/data.json", timeout=10) as response:
            return json.load(response)

    def check_signature(self, params: dict) -> None:
        access_key = params["X-Amz-Credential"].split("/")[0]
        roles = self.moto_state().get("sts", {}).get("AssumedRole", [])
        role = next((r for r in roles if r.get("access_key_id") == access_key), None)
        if role is None:
            raise Rejected("the access key belongs to no role session that moto issued")
        if params.get("X-Amz-Security-Token") != role.get("session_token"):
            raise Rejected("X-Amz-Security-Token does not match the access key's session")

        canonical_query = "&".join(
            f"{quote(name)}={quote(value)}"
            for name, value in sorted(params.items())
            if name != "X-Amz-Signature"
        )
        canonical_request = "\n".join(
            [
                "GET",
                "/",
                canonical_query,
                f"host:{self.host}",
                f"x-k8s-aws-id:{self.cluster_name}",
                "",
                "host;x-k8s-aws-id",
                EMPTY_PAYLOAD_SHA256,
            ]
        )

        scope = "/".join(params["X-Amz-Credential"].split("/")[1:])
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                params["X-Amz-Date"],
                scope,
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )

        key = ("AWS4" + role["secret_access_key"]).encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, params["X-Amz-Signature"]):
            raise Rejected(
                f"the signature does not match: the token was not signed for cluster "
                f"{self.cluster_name!r} with this access key"
            )

    def get_caller_identity(self, params: dict) -> dict:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Amz-Date": params["X-Amz-Date"],
            "x-k8s-aws-id": self.cluster_name,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={params['X-Amz-Credential']}, "
                f"SignedHeaders=host;x-k8s-aws-id, Signature={params['X-Amz-Signature']}"
            ),
        }
        if "X-Amz-Security-Token" in params:
            headers["X-Amz-Security-Token"] = params["X-Amz-Security-Token"]
        request = urllib.request.Request(
            f"{self.sts_endpoint}/",
            data=b"Action=GetCallerIdentity&Version=2011-06-15",
            headers=headers,
            method="POST",
        )
        try:
            with DIRECT.open(request, timeout=10) as response:
                document = ElementTree.fromstring(response.read())
        except urllib.error.HTTPError as error:
            raise Rejected(f"GetCallerIdentity failed with HTTP {error.code}")
        result = document.find(f"{STS_NAMESPACE}GetCallerIdentityResult")
        if result is None:
            raise Rejected("GetCallerIdentity returned no result")
        return {name: result.findtext(f"{STS_NAMESPACE}{name}") for name in ("Arn", "Account", "UserId")}

    def map_caller(self, caller: dict, params: dict) -> dict:
        match = ASSUMED_ROLE_ARN.match(caller.get("Arn") or "")
        if not match:
            raise Rejected(f"the caller {caller.get('Arn')!r} is not an assumed role")
        partition, account, role_name, session_name = match.groups()
        role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
        entry = next((e for e in self.map_roles if e.get("rolearn") == role_arn), None)
        if entry is None:
            raise Rejected(f"{role_arn} is not mapped")
        username = (
            entry["username"]
            .replace("{{SessionNameRaw}}", session_name)
            .replace("{{SessionName}}", session_name.replace("@", "-"))
            .replace("{{AccountID}}", account)
        )
        return {
            "username": username,
            "uid": f"aws-iam-authenticator:{account}:{caller.get('UserId')}",
            "groups": list(entry.get("groups", [])) + ["system:authenticated"],
            "extra": {
                "arn": [caller["Arn"]],
                "canonicalArn": [role_arn],
                "sessionName": [session_name],
                "accessKeyId": [params["X-Amz-Credential"].split("/")[0]],
            },
        }


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    authenticator: Authenticator
    request_log: Path
    log_lock = threading.Lock()

    def authenticated(self) -> dict | None:
        now = datetime.datetime.now(datetime.timezone.utc)
        entry = {"method": self.command, "path": self.path}
        try:
            user = self.authenticator.authenticate(self.headers.get("Authorization"), now)
        except Rejected as rejection:
            entry["rejected"] = str(rejection)
            self.record(entry)
            self.send_json(
                401,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                },
            )
            return None
        entry["user"] = user["username"]
        entry["access_key_id"] = user["extra"]["accessKeyId"][0]
        self.record(entry)
        return user

    def do_GET(self) -> None:
        if self.authenticated() is None:
            return
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self.send_json(200, VERSION)
        elif path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        elif path == "/apis":
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        elif path == "/api/v1":
            self.send_json(200, CORE_V1_RESOURCES)
        elif path == "/api/v1/namespaces/default/pods":
            self.send_json(200, EMPTY_POD_LIST)
        else:
            self.send_status(404, "NotFound", f"{path} is not served by the stand-in API server")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        user = self.authenticated()
        if user is None:
            return
        if self.path.split("?", 1)[0] == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
            self.send_json(
                201,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "SelfSubjectReview",
                    "metadata": {"creationTimestamp": None},
                    "status": {"userInfo": user},
                },
            )
        else:
            self.send_status(404, "NotFound", f"{self.path} is not served by the stand-in API server")

    def record(self, entry: dict) -> None:
        with self.log_lock, self.request_log.open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def send_status(self, code: int, reason: str, message: str) -> None:
        self.send_json(
            code,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
        )

    def send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        # Requests go to requests.jsonl, so stderr only shows errors.
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--sts-endpoint", required=True, help="the moto server, http://127.0.0.1:<port>")
    parser.add_argument("--cluster-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--map-roles", required=True, type=Path, help="aws-auth style mapRoles as JSON")
    args = parser.parse_args()
    if not args.sts_endpoint.startswith("http://127.0.0.1:"):
        parser.error("--sts-endpoint must be a moto server on http://127.0.0.1")

    cert_path, key_path = create_certificates(args.dir)
    Handler.authenticator = Authenticator(
        args.sts_endpoint, args.cluster_name, args.region, json.loads(args.map_roles.read_text())
    )
    Handler.request_log = args.dir / "requests.jsonl"
    Handler.request_log.touch()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)

    threading.Thread(target=exit_at_end_of_input, daemon=True).start()
    print(f"port={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
