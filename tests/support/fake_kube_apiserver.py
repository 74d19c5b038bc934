"""Serve a stand-in Kubernetes API server over HTTPS on 127.0.0.1 for the kubectl tests.

Usage: fake_kube_apiserver.py DIR

At start-up it creates a throwaway CA and a server certificate for 127.0.0.1, writes the CA
certificate to DIR/ca.pem and prints "port=<n>" on standard output once it accepts connections.
Before responding to a request it appends one JSON line to DIR/requests.jsonl with the method,
the path and the Authorization header (null when absent). It serves /version, the discovery
paths /api, /api/v1 and /apis, the pod list of the default namespace and a POST of a
SelfSubjectReview, and returns 404 for anything else. It exits when its standard input closes,
which happens when the process that started it exits.
"""

import datetime
import ipaddress
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

CORE_V1_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["get", "list"],
            "shortNames": ["po"],
        }
    ],
}

EMPTY_POD_LIST = {
    "kind": "PodList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "1"},
    "items": [],
}

SELF_SUBJECT_REVIEW = {
    "apiVersion": "authentication.k8s.io/v1",
    "kind": "SelfSubjectReview",
    "metadata": {"creationTimestamp": None},
    "status": {"userInfo": {"username": "eksgate-test", "groups": ["system:authenticated"]}},
}


def create_certificates(directory: Path) -> tuple[Path, Path]:
    """Write DIR/ca.pem, DIR/server.pem and DIR/server-key.pem and return the server files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eksgate test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    request_log: Path
    log_lock = threading.Lock()

    def do_GET(self) -> None:
        self.record()
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
            self.send_not_found()

    def do_POST(self) -> None:
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.split("?", 1)[0] == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
            self.send_json(201, SELF_SUBJECT_REVIEW)
        else:
            self.send_not_found()

    def record(self) -> None:
        line = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
            }
        )
        with self.log_lock, self.request_log.open("a") as log:
            log.write(line + "\n")

    def send_not_found(self) -> None:
        self.send_json(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"{self.path} is not served by the test API server",
                "reason": "NotFound",
                "code": 404,
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


def exit_at_end_of_input() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    directory = Path(sys.argv[1])
    cert_path, key_path = create_certificates(directory)
    Handler.request_log = directory / "requests.jsonl"
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
