//! EKS tokens, kubeconfigs and exec credentials from eksgate-kube, checked against independent
//! implementations: botocore's SigV4 query signer, a strict base64url decoder, and kubectl
//! talking to a stand-in API server on 127.0.0.1.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use eksgate_kube::exec::{ExecApiVersion, ExecCredential, parse_exec_info};
use eksgate_kube::kubeconfig::{ClusterKubeconfig, ExecEnvVar, ExecPlugin, UserCredential};
use eksgate_kube::token::{EksToken, SigningCredentials, TOKEN_PREFIX, eks_token};
use eksgate_tags::Partition;
use eksgate_tests::moto::python;
use eksgate_tests::repo_root;
use serde_json::{Value, json};

const ACCESS_KEY_ID: &str = "ASIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A session token shaped like STS output: long, with `+`, `/` and `=` padding, which the URL
/// must percent-encode.
fn session_token() -> String {
    format!(
        "IQoJb3JpZ2luX2VjEXAMPLE/{}+SESSION/tail==",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/".repeat(12)
    )
}

fn credentials(session_token: Option<String>) -> SigningCredentials {
    SigningCredentials {
        access_key_id: ACCESS_KEY_ID.to_string(),
        secret_access_key: SECRET_ACCESS_KEY.to_string(),
        session_token,
        expires_at: None,
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A directory under the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "eksgate-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("creating {} failed: {error}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn require_python() -> PathBuf {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing. Run scripts/bootstrap.sh to create the Python environment.",
        python.display()
    );
    python
}

// ---------------------------------------------------------------------------------------------
// botocore reference

struct ReferenceCase {
    region: &'static str,
    cluster_name: String,
    session_token: Option<String>,
    time: u64,
}

/// Presigns every case with tests/support/botocore_presign.py and returns botocore's URL of
/// each, in order.
fn botocore_urls(cases: &[ReferenceCase]) -> Vec<String> {
    let input: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "access_key_id": ACCESS_KEY_ID,
                "secret_access_key": SECRET_ACCESS_KEY,
                "session_token": case.session_token,
                "region": case.region,
                "cluster_name": case.cluster_name,
                "time": case.time,
            })
        })
        .collect();

    let mut child = Command::new(require_python())
        .arg(repo_root().join("tests/support/botocore_presign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting botocore_presign.py failed");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(Value::Array(input).to_string().as_bytes())
        .expect("writing the cases to botocore_presign.py failed");
    let output = child
        .wait_with_output()
        .expect("waiting for botocore_presign.py failed");
    assert!(
        output.status.success(),
        "botocore_presign.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let urls: Vec<String> =
        serde_json::from_slice(&output.stdout).expect("botocore_presign.py prints a JSON list");
    assert_eq!(urls.len(), cases.len(), "one URL per case");
    urls
}

/// Encodes a URL into a token without the crate's encoder: standard base64 with `+` and `/`
/// replaced by `-` and `_` and the padding removed.
fn reference_token(url: &str) -> String {
    let body = STANDARD
        .encode(url)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    format!("k8s-aws-v1.{body}")
}

fn decode_token_url(token: &EksToken) -> String {
    let body = token
        .token
        .strip_prefix(TOKEN_PREFIX)
        .expect("token starts with k8s-aws-v1.");
    String::from_utf8(
        strict_decoder()
            .decode(body)
            .expect("token body is base64url"),
    )
    .expect("URL is UTF-8")
}

#[test]
fn token_matches_botocore() {
    let regions = [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "us-gov-west-1",
        "cn-north-1",
        "cn-northwest-1",
    ];
    let cluster_names = [
        "dev".to_string(),
        "prod_cluster-01".to_string(),
        "7".to_string(),
        "x".repeat(100),
    ];
    let times = [1_700_000_000, 1_709_251_199, 1_735_689_599];
    let mut cases = Vec::new();
    for (index, region) in regions.iter().enumerate() {
        for session_token in [None, Some(session_token())] {
            cases.push(ReferenceCase {
                region,
                cluster_name: cluster_names[index % cluster_names.len()].clone(),
                session_token,
                time: times[index % times.len()],
            });
        }
    }

    let urls = botocore_urls(&cases);
    for (case, botocore_url) in cases.iter().zip(&urls) {
        let label = format!(
            "{} {} with{} session token",
            case.region,
            case.cluster_name,
            if case.session_token.is_some() {
                ""
            } else {
                "out"
            }
        );
        let token = eks_token(
            &credentials(case.session_token.clone()),
            &case.cluster_name,
            case.region,
            Partition::of_region(case.region),
            at(case.time),
        )
        .unwrap_or_else(|error| panic!("{label}: {error}"));

        assert_eq!(&decode_token_url(&token), botocore_url, "URL for {label}");
        assert_eq!(
            token.token,
            reference_token(botocore_url),
            "token for {label}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Strict base64url decoding

/// Returns a base64url decoder that rejects padding and the standard alphabet's `+` and `/`.
fn strict_decoder() -> GeneralPurpose {
    GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    )
}

#[test]
fn token_body_decodes_strictly() {
    // The cluster name travels in a signed header, not in the URL, so the URL length varies
    // with the session token length here.
    let decoder = strict_decoder();
    let mut remainders = BTreeSet::new();
    for token_length in 0..6 {
        for cluster_name in ["a", "ab", "abc"] {
            let session_token = (token_length > 0).then(|| "T".repeat(token_length));
            let token = eks_token(
                &credentials(session_token),
                cluster_name,
                "eu-west-1",
                Partition::Aws,
                at(1_700_000_000),
            )
            .expect("token");
            let body = token
                .token
                .strip_prefix(TOKEN_PREFIX)
                .expect("token starts with k8s-aws-v1.");
            assert!(!body.contains('='), "padding in {body}");

            let url = decoder
                .decode(body)
                .unwrap_or_else(|error| panic!("strict decoding of {body} failed: {error}"));
            let url = String::from_utf8(url).expect("URL is UTF-8");
            assert!(
                url.starts_with(
                    "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
                ),
                "{url}"
            );
            assert_eq!(decoder.encode(&url), body, "re-encoding {url}");

            let remainder = url.len() % 3;
            remainders.insert(remainder);
            if remainder != 0 {
                let padded = format!("{body}{}", "=".repeat(3 - remainder));
                assert!(
                    decoder.decode(&padded).is_err(),
                    "the strict decoder accepted padding: {padded}"
                );
            }
        }
    }
    assert_eq!(
        remainders,
        BTreeSet::from([0, 1, 2]),
        "URL lengths modulo 3"
    );
}

// ---------------------------------------------------------------------------------------------
// kubectl against a stand-in API server

/// tests/support/fake_kube_apiserver.py on a free port of 127.0.0.1. Dropping it stops the
/// process and removes its directory.
struct FakeApiServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl FakeApiServer {
    fn start() -> Self {
        let dir = TempDir::new("apiserver");
        let stderr = fs::File::create(dir.path().join("server.stderr"))
            .expect("creating server.stderr failed");
        let mut child = Command::new(require_python())
            .arg(repo_root().join("tests/support/fake_kube_apiserver.py"))
            .arg(dir.path())
            // The server exits when this pipe closes, so a killed test leaves no process behind.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting fake_kube_apiserver.py failed");

        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("port=")
            .and_then(|port| port.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "fake_kube_apiserver.py did not report its port. It printed {line:?} and wrote \
                 to stderr: {}",
                fs::read_to_string(dir.path().join("server.stderr")).unwrap_or_default()
            );
        };
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Returns the CA certificate in the form of DescribeCluster's `certificateAuthority.data`:
    /// base64 of the PEM file.
    fn certificate_authority_data(&self) -> String {
        let pem = fs::read(self.dir.path().join("ca.pem")).expect("reading ca.pem failed");
        STANDARD.encode(pem)
    }

    /// Returns the requests received so far, each with method, path and authorization.
    fn requests(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .expect("reading requests.jsonl failed")
            .lines()
            .map(|line| serde_json::from_str(line).expect("request log line is JSON"))
            .collect()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.stderr")).unwrap_or_default()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs kubectl with only `PATH`, a throwaway `HOME`, `KUBECONFIG` and `NO_PROXY` in its
/// environment, so it reads no user file and uses no proxy.
fn kubectl(home: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let output = Command::new("kubectl")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--request-timeout=20s")
        .output()
        .unwrap_or_else(|error| panic!("running kubectl failed (is it on PATH?): {error}"));
    assert!(
        output.status.success(),
        "kubectl {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn test_token() -> EksToken {
    eks_token(
        &credentials(Some(session_token())),
        "dev",
        "eu-west-1",
        Partition::Aws,
        SystemTime::now(),
    )
    .expect("token")
}

/// Asserts that the server saw `expected_path` and that every request carried the token.
fn assert_bearer_on_every_request(server: &FakeApiServer, token: &EksToken, expected_path: &str) {
    let requests = server.requests();
    assert!(
        requests.iter().any(|request| request["path"]
            .as_str()
            .is_some_and(|path| path.starts_with(expected_path))),
        "no request for {expected_path}: {requests:?}. Server stderr: {}",
        server.stderr()
    );
    let expected = format!("Bearer {}", token.token);
    for request in &requests {
        assert_eq!(
            request["authorization"].as_str(),
            Some(expected.as_str()),
            "Authorization of {} {}",
            request["method"],
            request["path"]
        );
    }
}

const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/dev";

#[test]
fn kubectl_sends_static_token() {
    let work = TempDir::new("kubectl-token");
    let server = FakeApiServer::start();
    let token = test_token();

    // An existing kubeconfig whose current context points at a closed port of 127.0.0.1: kubectl
    // only reaches the server if the merge switched the current context.
    let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    \
                    server: https://127.0.0.1:1\nusers:\n- name: other\n  user:\n    token: \
                    other\ncontexts:\n- name: other\n  context:\n    cluster: other\n    user: \
                    other\ncurrent-context: other\n";
    let config = ClusterKubeconfig::new(
        CLUSTER_ARN,
        server.url(),
        server.certificate_authority_data(),
        UserCredential::Token(token.token.clone()),
    );
    let kubeconfig = work.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        config
            .merge_into(Some(existing), true)
            .expect("merging into the existing kubeconfig"),
    )
    .expect("writing the kubeconfig failed");

    let output = kubectl(work.path(), &kubeconfig, &["get", "--raw", "/version"]);
    let version: Value = serde_json::from_slice(&output.stdout).expect("/version is JSON");
    assert_eq!(version["gitVersion"], "v1.32.0");

    let output = kubectl(work.path(), &kubeconfig, &["auth", "whoami", "-o", "json"]);
    let review: Value = serde_json::from_slice(&output.stdout).expect("whoami prints JSON");
    assert_eq!(review["status"]["userInfo"]["username"], "eksgate-test");

    assert_bearer_on_every_request(&server, &token, "/version");
    assert_bearer_on_every_request(
        &server,
        &token,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    );
}

#[test]
fn kubectl_sends_exec_plugin_token() {
    let work = TempDir::new("kubectl-exec");
    let token = test_token();
    let credential_path = work.path().join("credential.json");
    let exec_info_path = work.path().join("exec-info.json");
    let args_path = work.path().join("args.txt");
    fs::write(
        &credential_path,
        ExecCredential::from_token(&token, ExecApiVersion::V1Beta1).to_json(),
    )
    .expect("writing credential.json failed");

    // The plugin records what kubectl passed to it and prints the crate's credential.
    let plugin = work.path().join("eksgate-test-plugin.sh");
    fs::write(
        &plugin,
        "#!/bin/sh\n\
         printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$EKSGATE_TEST_EXEC_INFO\"\n\
         printf '%s\\n' \"$@\" > \"$EKSGATE_TEST_ARGS\"\n\
         cat \"$EKSGATE_TEST_CREDENTIAL\"\n",
    )
    .expect("writing the plugin failed");
    fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755))
        .expect("making the plugin executable failed");

    let server = FakeApiServer::start();
    let env = |name: &str, value: &Path| ExecEnvVar {
        name: name.to_string(),
        value: value.display().to_string(),
    };
    let config = ClusterKubeconfig::new(
        CLUSTER_ARN,
        server.url(),
        server.certificate_authority_data(),
        UserCredential::Exec(ExecPlugin {
            command: plugin.display().to_string(),
            args: vec![
                "token".to_string(),
                "--cluster".to_string(),
                CLUSTER_ARN.to_string(),
            ],
            env: vec![
                env("EKSGATE_TEST_CREDENTIAL", &credential_path),
                env("EKSGATE_TEST_EXEC_INFO", &exec_info_path),
                env("EKSGATE_TEST_ARGS", &args_path),
            ],
        }),
    );
    let kubeconfig = work.path().join("kubeconfig");
    fs::write(&kubeconfig, config.to_yaml()).expect("writing the kubeconfig failed");

    let output = kubectl(work.path(), &kubeconfig, &["get", "--raw", "/version"]);
    let version: Value = serde_json::from_slice(&output.stdout).expect("/version is JSON");
    assert_eq!(version["gitVersion"], "v1.32.0");
    assert_bearer_on_every_request(&server, &token, "/version");

    let exec_info = fs::read_to_string(&exec_info_path).expect("the plugin ran");
    let info = parse_exec_info(&exec_info)
        .unwrap_or_else(|error| panic!("parsing {exec_info:?} failed: {error}"));
    assert_eq!(info.api_version, ExecApiVersion::V1Beta1);
    assert!(!info.interactive, "{exec_info}");

    let args = fs::read_to_string(&args_path).expect("the plugin recorded its arguments");
    assert_eq!(args, format!("token\n--cluster\n{CLUSTER_ARN}\n"));
}
