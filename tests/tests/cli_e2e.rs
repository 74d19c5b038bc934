//! The eksgate CLI end to end, on 127.0.0.1 only.
//!
//! moto plays AWS, and the real importer fills the catalog. The session issuer runs as its
//! Lambda binary under `cargo lambda watch` and verifies RS256 identity tokens from a key made
//! at test time (self-verifying mode). `tests/support/eks_apiserver.py` plays the cluster's API
//! server and authenticates EKS tokens as EKS does. A developer requests access with the CLI, an
//! approver approves, the developer connects, and kubectl reaches the stand-in through the exec
//! plugin context that `eksgate connect` wrote.
//!
//! The CLI is another package's binary, so `env!("CARGO_BIN_EXE_eksgate")` is not available
//! here: the test builds it with `cargo build -p eksgate-cli` and takes the executable's path
//! from cargo's JSON messages, which is right for any target directory and profile setting.
//!
//! moto's clusters have no API server, so the catalog entry's endpoint and CA data are pointed
//! at the stand-in after the import.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eksgate_kube::exec::format_rfc3339;
use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::idp::{AUDIENCE, ISSUER, TestIdp};
use eksgate_tests::local_importer;
use eksgate_tests::moto::{Moto, python};
use eksgate_tests::repo_root;
use eksgate_tests::table::create_catalog_table;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-cli";
const REGION: &str = "eu-west-1";
const CLUSTER_NAME: &str = "payments-prod";
const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod";
const ADMIN_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ClusterAdmin";
const DEVELOPER: &str = "dev.one@example.com";
const APPROVER: &str = "alice@example.com";
/// The user name that the aws-auth mapping `eksgate:{{SessionName}}` gives the developer.
const MAPPED_USER: &str = "eksgate:dev.one-example.com";

/// The first request compiles the session issuer under `cargo lambda watch`, which takes
/// minutes on a small machine that is building other things.
const FIRST_CALL_TIMEOUT_SECS: &str = "1200";

/// A directory under the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "eksgate-cli-e2e-{label}-{}-{}",
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

/// Builds the eksgate binary once and returns its path.
fn eksgate_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(repo_root())
            .args([
                "build",
                "-p",
                "eksgate-cli",
                "--bin",
                "eksgate",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo build failed");
        assert!(
            output.status.success(),
            "cargo build -p eksgate-cli failed with {}",
            output.status
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "eksgate")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo build reported no eksgate executable")
    })
}

/// Returns a free TCP port of 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a free port")
        .port()
}

/// The session issuer under `cargo lambda watch` on 127.0.0.1, in its own process group so that
/// dropping it stops the function process too.
struct LambdaWatch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl LambdaWatch {
    fn start(env_file: &Path, log: PathBuf) -> Self {
        let root = repo_root();
        let venv_bin = root.join(".venv/bin");
        let cargo_lambda = venv_bin.join("cargo-lambda");
        assert!(
            cargo_lambda.exists(),
            "{} is missing. Run scripts/bootstrap.sh (make test runs it).",
            cargo_lambda.display()
        );
        let path = format!(
            "{}:{}",
            venv_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );

        let port = free_port();
        let log_file = File::create(&log).expect("creating the watch log");
        let child = Command::new(&cargo_lambda)
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .arg("--ignore-changes")
            .arg("--env-file")
            .arg(env_file)
            .current_dir(&root)
            .env("PATH", path)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning the log handle"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .expect("starting cargo lambda watch failed");

        let mut watch = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = watch.child.try_wait() {
                panic!(
                    "cargo lambda watch exited with {status}:\n{}",
                    watch.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on 127.0.0.1:{port} within 120 s:\n{}",
                watch.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        watch
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/lambda-url/session-issuer", self.port)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal_group = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The function process may outlive cargo-lambda itself.
        signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// tests/support/eks_apiserver.py on a free port of 127.0.0.1. It exits when its standard
/// input closes, so a killed test leaves no process behind.
struct EksApiServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl EksApiServer {
    fn start(dir: PathBuf, sts_endpoint: &str, map_roles: &Value) -> Self {
        fs::create_dir_all(&dir).expect("creating the API server directory");
        let map_roles_path = dir.join("map-roles.json");
        fs::write(&map_roles_path, map_roles.to_string()).expect("writing map-roles.json");
        let stderr = File::create(dir.join("server.stderr")).expect("creating server.stderr");
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/support/eks_apiserver.py"))
            .arg(&dir)
            .args(["--sts-endpoint", sts_endpoint])
            .args(["--cluster-name", CLUSTER_NAME, "--region", REGION])
            .arg("--map-roles")
            .arg(&map_roles_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting eks_apiserver.py failed");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("port=")
            .and_then(|port| port.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "eks_apiserver.py did not report its port. It printed {line:?} and wrote to \
                 stderr: {}",
                fs::read_to_string(dir.join("server.stderr")).unwrap_or_default()
            );
        };
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Returns the CA certificate as DescribeCluster's `certificateAuthority.data`: base64 of
    /// the PEM file.
    fn certificate_authority_data(&self) -> String {
        STANDARD.encode(fs::read(self.dir.join("ca.pem")).expect("reading ca.pem"))
    }

    /// Returns the requests received so far: method, path, and user or rejection reason.
    fn requests(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.join("requests.jsonl"))
            .expect("reading requests.jsonl")
            .lines()
            .map(|line| serde_json::from_str(line).expect("request log line is JSON"))
            .collect()
    }
}

impl Drop for EksApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user of the CLI: a home directory with an eksgate configuration whose token command
/// prints the user's identity token.
struct Person {
    home: PathBuf,
}

impl Person {
    fn new(work: &Path, name: &str, token: &str, api_url: &str) -> Self {
        let home = work.join(name);
        fs::create_dir_all(&home).expect("creating a home directory");
        let token_file = home.join("identity-token.jwt");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&token_file)
            .expect("creating the token file");
        file.write_all(token.as_bytes())
            .expect("writing the token file");
        let person = Self { home };
        let token_command = format!("cat {}", token_file.display());
        person.eksgate(&[
            "configure",
            "--api-url",
            api_url,
            "--token-command",
            &token_command,
        ]);
        person
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", search_path())
            .env("HOME", &self.home)
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .stdin(Stdio::null());
        command
    }

    /// Runs eksgate and returns its output, whatever its exit status.
    fn try_eksgate(&self, args: &[&str]) -> Output {
        self.command(eksgate_binary())
            .args(args)
            .output()
            .expect("running eksgate failed")
    }

    /// Runs eksgate and returns its standard output; panics unless it succeeds.
    fn eksgate(&self, args: &[&str]) -> String {
        let output = self.try_eksgate(args);
        assert!(
            output.status.success(),
            "eksgate {args:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("eksgate prints UTF-8")
    }

    /// Runs eksgate with `--output json` and parses its output.
    fn eksgate_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.eksgate(&all);
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{args:?}: {error}: {text}"))
    }

    /// Runs kubectl with a clean environment: `PATH` with the eksgate binary, this person's
    /// `HOME`, the kubeconfig, and no proxy.
    fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        self.command(Path::new("kubectl"))
            .env("KUBECONFIG", kubeconfig)
            .args(args)
            .arg("--request-timeout=60s")
            .output()
            .unwrap_or_else(|error| panic!("running kubectl failed (is it on PATH?): {error}"))
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.join(".cache/eksgate")
    }

    /// Returns the cached sessions' files, without the identity hints.
    fn cache_files(&self) -> Vec<PathBuf> {
        match fs::read_dir(self.cache_dir()) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("session-") && name.ends_with(".json"))
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn session_count(&self) -> usize {
        let sessions = self.eksgate_json(&["sessions"]);
        sessions["sessions"].as_array().expect("sessions").len()
    }
}

/// `PATH` for eksgate and kubectl: the eksgate binary's directory, then the system's.
fn search_path() -> String {
    let eksgate_dir = eksgate_binary()
        .parent()
        .expect("the binary has a directory");
    format!("{}:/usr/local/bin:/usr/bin:/bin", eksgate_dir.display())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Everything the flow needs, stopped in reverse order when dropped.
struct Stack {
    dev: Person,
    approver: Person,
    apiserver: EksApiServer,
    watch: LambdaWatch,
    _moto: Moto,
    work: TempDir,
}

impl Stack {
    async fn start() -> Self {
        let binary = eksgate_binary();
        assert!(binary.exists(), "{}", binary.display());

        let moto = Moto::start();
        let endpoint = moto.endpoint();
        let config = local_config(&endpoint, REGION);
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        create_catalog_table(&dynamodb, TABLE).await;
        let spec = ClusterSpec::new(
            REGION,
            CLUSTER_NAME,
            &[
                ("opal", ""),
                ("opal:eks:role:1", "ClusterAdmin"),
                ("opal:eks:role:2", "teams/dev/ClusterView"),
            ],
        );
        create_cluster(&config, &spec).await;
        local_importer(&endpoint, TABLE, &[REGION], &[]).run().await;

        let work = TempDir::new("stack");
        let map_roles = json!([{
            "rolearn": ADMIN_ROLE_ARN,
            "username": "eksgate:{{SessionName}}",
            "groups": ["eksgate:cluster-admins"],
        }]);
        let apiserver = EksApiServer::start(work.path().join("apiserver"), &endpoint, &map_roles);
        point_cluster_at(&dynamodb, &apiserver).await;

        let idp = TestIdp::generate();
        let jwks = work.path().join("jwks.json");
        idp.write_jwks(&jwks).expect("writing the JWKS");
        let env_file = work.path().join("session-issuer.env");
        let settings = [
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_REGION", REGION.into()),
            ("EKSGATE_TABLE_NAME", TABLE.into()),
            ("EKSGATE_APPROVER_GROUPS", "platform".into()),
            ("EKSGATE_JWKS", format!("file:{}", jwks.display())),
            ("EKSGATE_JWT_ISSUER", ISSUER.into()),
            ("EKSGATE_JWT_AUDIENCE", AUDIENCE.into()),
            ("EKSGATE_LOG_FORMAT", "text".into()),
        ];
        let env_text: String = settings
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        fs::write(&env_file, env_text).expect("writing the env file");
        let watch = LambdaWatch::start(&env_file, work.path().join("watch.log"));

        let api_url = watch.api_url();
        let dev = Person::new(
            work.path(),
            "developer",
            &idp.token(DEVELOPER, &["eks-users"]),
            &api_url,
        );
        let approver = Person::new(
            work.path(),
            "approver",
            &idp.token(APPROVER, &["platform", "eks-users"]),
            &api_url,
        );
        Self {
            dev,
            approver,
            apiserver,
            watch,
            _moto: moto,
            work,
        }
    }
}

/// Replaces the catalog entry's endpoint and CA data with the stand-in API server's.
async fn point_cluster_at(dynamodb: &aws_sdk_dynamodb::Client, apiserver: &EksApiServer) {
    dynamodb
        .update_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("CLUSTER#{CLUSTER_ARN}")))
        .key("sk", AttributeValue::S("CLUSTER".into()))
        .update_expression("SET endpoint = :endpoint, ca_data = :ca")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":endpoint", AttributeValue::S(apiserver.url()))
        .expression_attribute_values(
            ":ca",
            AttributeValue::S(apiserver.certificate_authority_data()),
        )
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "pointing the catalog entry at the stand-in failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(error)
            )
        });
}

/// Asserts that kubectl authenticated through the plugin and the stand-in mapped the session.
fn assert_whoami(stack: &Stack, kubeconfig: &Path) {
    let output = stack
        .dev
        .kubectl(kubeconfig, &["auth", "whoami", "-o", "json"]);
    assert!(
        output.status.success(),
        "kubectl auth whoami failed with {}: {}\nAPI server log: {:?}\nwatch log:\n{}",
        output.status,
        stderr_of(&output),
        stack.apiserver.requests(),
        stack.watch.log_text()
    );
    let review: Value = serde_json::from_slice(&output.stdout).expect("whoami prints JSON");
    assert_eq!(review["status"]["userInfo"]["username"], MAPPED_USER);
    let groups = review["status"]["userInfo"]["groups"]
        .as_array()
        .expect("groups");
    assert!(
        groups.contains(&json!("eksgate:cluster-admins")),
        "{groups:?}"
    );
}

#[tokio::test]
async fn cli_request_approve_connect_kubectl() {
    let stack = Stack::start().await;
    let (dev, approver) = (&stack.dev, &stack.approver);

    // The first call compiles the session issuer, so it gets a long time limit.
    let clusters = dev.eksgate(&["clusters", "--timeout", FIRST_CALL_TIMEOUT_SECS]);
    assert!(clusters.contains(CLUSTER_NAME), "{clusters}");
    assert!(clusters.contains(CLUSTER_ARN), "{clusters}");

    let roles = dev.eksgate_json(&["roles", "--cluster", CLUSTER_NAME]);
    let mut role_names: Vec<&str> = roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|role| role["name"].as_str())
        .collect();
    role_names.sort_unstable();
    assert_eq!(role_names, ["ClusterAdmin", "ClusterView"]);

    // Request by cluster name; the CLI resolves it to the ARN.
    let requested = dev.eksgate_json(&[
        "request",
        "--cluster",
        CLUSTER_NAME,
        "--role",
        "ClusterAdmin",
        "--duration",
        "1h",
        "--reason",
        "INC-1234: payments pods crash-looping",
    ]);
    let request_id = requested["request"]["id"]
        .as_str()
        .expect("request id")
        .to_string();
    assert_eq!(requested["request"]["state"], "pending");
    assert_eq!(requested["request"]["cluster"], CLUSTER_ARN);
    assert_eq!(requested["request"]["duration_seconds"], 3600);

    // Connecting before approval fails with the API's reason, and writes nothing.
    let kubeconfig_dir = stack.work.path().join("kube");
    fs::create_dir_all(&kubeconfig_dir).expect("creating the kubeconfig directory");
    let kubeconfig = kubeconfig_dir.join("config");
    let early_connect = dev.try_eksgate(&[
        "connect",
        "--cluster",
        CLUSTER_ARN,
        "--role",
        "ClusterAdmin",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ]);
    assert_eq!(
        early_connect.status.code(),
        Some(1),
        "{}",
        stderr_of(&early_connect)
    );
    assert!(
        stderr_of(&early_connect).contains("no active grant"),
        "{}",
        stderr_of(&early_connect)
    );
    assert!(!kubeconfig.exists());

    // The approver lists the pending request and approves it.
    let pending = approver.eksgate_json(&["requests", "--pending"]);
    let pending_ids: Vec<&str> = pending["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|request| request["id"].as_str())
        .collect();
    assert!(pending_ids.contains(&request_id.as_str()), "{pending}");
    let pending_table = approver.eksgate(&["requests", "--pending"]);
    assert!(pending_table.contains(DEVELOPER), "{pending_table}");
    let approved = approver.eksgate_json(&["approve", &request_id, "--reason", "on call"]);
    assert_eq!(approved["request"]["state"], "active");
    let grants = dev.eksgate_json(&["grants"]);
    assert_eq!(grants["grants"][0]["id"], request_id.as_str());

    // An existing kubeconfig with another context: connect must keep it. KUBECONFIG lists two
    // files, and connect writes to the first.
    let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    \
                    server: https://127.0.0.1:1\nusers:\n- name: other\n  user:\n    token: \
                    other-token\ncontexts:\n- name: other\n  context:\n    cluster: other\n    \
                    user: other\ncurrent-context: other\n";
    fs::write(&kubeconfig, existing).expect("writing the existing kubeconfig");
    let second_kubeconfig = kubeconfig_dir.join("second");
    let connect = dev
        .command(eksgate_binary())
        .env(
            "KUBECONFIG",
            format!("{}:{}", kubeconfig.display(), second_kubeconfig.display()),
        )
        .args([
            "connect",
            "--cluster",
            CLUSTER_NAME,
            "--role",
            "ClusterAdmin",
        ])
        .output()
        .expect("running eksgate connect");
    assert!(
        connect.status.success(),
        "eksgate connect failed: {}",
        stderr_of(&connect)
    );
    let report = String::from_utf8_lossy(&connect.stdout);
    assert!(
        report.contains("eksgate-payments-prod-ClusterAdmin"),
        "{report}"
    );
    assert!(!report.contains("k8s-aws-v1."), "connect printed a token");
    assert!(!second_kubeconfig.exists());
    assert_eq!(mode(&kubeconfig), 0o600);
    let written: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(&kubeconfig).expect("reading the kubeconfig"))
            .expect("the kubeconfig is YAML");
    assert_eq!(
        written["current-context"].as_str(),
        Some("eksgate-payments-prod-ClusterAdmin")
    );
    let contexts: Vec<&str> = written["contexts"]
        .as_sequence()
        .expect("contexts")
        .iter()
        .filter_map(|context| context["name"].as_str())
        .collect();
    assert_eq!(contexts, ["other", "eksgate-payments-prod-ClusterAdmin"]);
    let user = written["users"]
        .as_sequence()
        .expect("users")
        .iter()
        .find(|user| user["name"].as_str() == Some("eksgate-payments-prod-ClusterAdmin"))
        .expect("the eksgate user entry");
    assert_eq!(user["user"]["exec"]["command"].as_str(), Some("eksgate"));
    assert_eq!(user["user"]["token"], serde_yaml::Value::Null);
    let exec_args: Vec<&str> = user["user"]["exec"]["args"]
        .as_sequence()
        .expect("exec args")
        .iter()
        .filter_map(|arg| arg.as_str())
        .collect();
    assert_eq!(
        exec_args[..5],
        [
            "credential",
            "--cluster",
            CLUSTER_ARN,
            "--role",
            "ClusterAdmin"
        ]
    );

    // connect created one session and cached its credentials privately.
    assert_eq!(dev.session_count(), 1);
    let cache_files = dev.cache_files();
    assert_eq!(cache_files.len(), 1, "{cache_files:?}");
    assert_eq!(mode(&dev.cache_dir()), 0o700);
    assert_eq!(mode(&cache_files[0]), 0o600);

    // kubectl runs the plugin, which signs tokens from the cached credentials: no new session.
    assert_whoami(&stack, &kubeconfig);
    assert_whoami(&stack, &kubeconfig);
    assert_eq!(dev.session_count(), 1, "the plugin used the cache");

    // A cache hit runs no token command, so kubectl works while the token file is gone.
    let token_file = dev.home.join("identity-token.jwt");
    let moved_token_file = dev.home.join("identity-token.moved");
    fs::rename(&token_file, &moved_token_file).expect("moving the token file away");
    assert_whoami(&stack, &kubeconfig);
    fs::rename(&moved_token_file, &token_file).expect("restoring the token file");

    // Without the cache, the plugin creates one session and caches it for the next call.
    fs::remove_dir_all(dev.cache_dir()).expect("clearing the cache");
    assert_whoami(&stack, &kubeconfig);
    assert_eq!(dev.session_count(), 2, "the plugin created a session");
    assert_whoami(&stack, &kubeconfig);
    assert_eq!(dev.session_count(), 2, "the plugin used the new cache");
    assert_eq!(mode(&dev.cache_dir()), 0o700);

    // Every request that reached the stand-in was authenticated as the mapped user.
    let requests = stack.apiserver.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for request in &requests {
        assert_eq!(request["user"], MAPPED_USER, "{request}");
    }

    // The plugin prints the API version that kubectl requests.
    let credential = dev
        .command(eksgate_binary())
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
        )
        .args(["credential", "--cluster", CLUSTER_ARN, "--role", "ClusterAdmin"])
        .output()
        .expect("running eksgate credential");
    assert!(credential.status.success(), "{}", stderr_of(&credential));
    let exec_credential: Value =
        serde_json::from_slice(&credential.stdout).expect("an ExecCredential");
    assert_eq!(
        exec_credential["apiVersion"],
        "client.authentication.k8s.io/v1"
    );
    assert!(
        exec_credential["status"]["token"]
            .as_str()
            .is_some_and(|token| token.starts_with("k8s-aws-v1.")),
        "{exec_credential}"
    );

    // Cancel a pending request, and end a granted one.
    let view = dev.eksgate_json(&[
        "request",
        "--cluster",
        CLUSTER_ARN,
        "--role",
        "ClusterView",
        "--reason",
        "read the logs",
    ]);
    let view_id = view["request"]["id"].as_str().expect("id").to_string();
    let cancelled = dev.eksgate_json(&["cancel", &view_id]);
    assert_eq!(cancelled["request"]["state"], "cancelled");
    let view = dev.eksgate_json(&[
        "request",
        "--cluster",
        CLUSTER_ARN,
        "--role",
        "ClusterView",
        "--reason",
        "read the logs",
    ]);
    let view_id = view["request"]["id"].as_str().expect("id").to_string();
    approver.eksgate(&["approve", &view_id]);
    let ended = dev.eksgate(&["end", &view_id, "--reason", "done"]);
    assert!(ended.contains("ended"), "{ended}");

    // The approver revokes the admin grant. The cached credentials stay valid until they
    // expire, so make the cached entry expire within the renewal margin. The plugin then
    // requests a session, gets 403, and prints how to request access again.
    let revoked = approver.eksgate_json(&["revoke", &request_id, "--reason", "incident closed"]);
    assert_eq!(revoked["request"]["state"], "revoked");
    let cache_files = dev.cache_files();
    assert_eq!(cache_files.len(), 1, "{cache_files:?}");
    let mut entry: Value =
        serde_json::from_str(&fs::read_to_string(&cache_files[0]).expect("reading the cache"))
            .expect("the cache entry is JSON");
    entry["credentials"]["expiration"] =
        json!(format_rfc3339(SystemTime::now() + Duration::from_secs(120)));
    fs::write(&cache_files[0], entry.to_string()).expect("rewriting the cache entry");

    let failed = dev.kubectl(&kubeconfig, &["auth", "whoami"]);
    assert!(
        !failed.status.success(),
        "kubectl succeeded after revocation"
    );
    let message = stderr_of(&failed);
    assert!(message.contains("no active grant"), "{message}");
    assert!(message.contains("request access again"), "{message}");
    assert!(
        message.contains(&format!(
            "eksgate request --cluster {CLUSTER_ARN} --role ClusterAdmin"
        )),
        "{message}"
    );
    assert!(dev.cache_files().is_empty(), "the plugin dropped the entry");

    // With the cache cleared, the plugin fails the same way.
    let failed = dev.kubectl(&kubeconfig, &["auth", "whoami"]);
    assert!(!failed.status.success());
    assert!(stderr_of(&failed).contains("request access again"));

    // The approver reads every session and the audit trail.
    let all_sessions = approver.eksgate_json(&["sessions", "--all"]);
    assert_eq!(
        all_sessions["sessions"].as_array().expect("sessions").len(),
        2
    );
    let audit = approver.eksgate_json(&["audit"]);
    let actions: Vec<(String, String)> = audit["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|record| {
            (
                record["action"].as_str().unwrap_or_default().to_string(),
                record["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let count = |action: &str, outcome: &str| {
        actions
            .iter()
            .filter(|(a, o)| a == action && o == outcome)
            .count()
    };
    assert_eq!(count("request.create", "succeeded"), 3, "{actions:?}");
    assert_eq!(count("request.approve", "succeeded"), 2, "{actions:?}");
    assert_eq!(count("request.cancel", "succeeded"), 1, "{actions:?}");
    assert_eq!(count("grant.end", "succeeded"), 1, "{actions:?}");
    assert_eq!(count("grant.revoke", "succeeded"), 1, "{actions:?}");
    assert_eq!(count("session.create", "succeeded"), 2, "{actions:?}");
    assert!(count("session.create", "rejected") >= 2, "{actions:?}");
    let audit_table = approver.eksgate(&["audit"]);
    assert!(audit_table.contains("grant.revoke"), "{audit_table}");

    // A developer may not read the audit trail; the API's 403 reaches the user.
    let denied = dev.try_eksgate(&["audit"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr_of(&denied).contains("HTTP 403"),
        "{}",
        stderr_of(&denied)
    );
}

#[test]
fn cli_errors_name_the_fix() {
    let work = TempDir::new("errors");
    let person = Person {
        home: work.path().to_path_buf(),
    };

    // No configuration at all.
    let output = person.try_eksgate(&["clusters"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("eksgate configure --api-url"),
        "{}",
        stderr_of(&output)
    );

    // Plain http to another host would send the token unencrypted.
    let output = person.try_eksgate(&["clusters", "--api-url", "http://api.example.com"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("unencrypted"),
        "{}",
        stderr_of(&output)
    );

    // A closed port: the error names the URL that failed.
    let port = free_port();
    let output = person
        .command(eksgate_binary())
        .env("EKSGATE_TOKEN", "eyJ.test.token")
        .args(["clusters", "--api-url", &format!("http://127.0.0.1:{port}")])
        .output()
        .expect("running eksgate");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr_of(&output);
    assert!(
        message.contains(&format!(
            "could not reach the eksgate API at http://127.0.0.1:{port}/clusters"
        )),
        "{message}"
    );
    assert!(!message.contains("eyJ.test.token"), "{message}");

    // A usage error exits with 2.
    let output = person.try_eksgate(&["request", "--cluster", "x"]);
    assert_eq!(output.status.code(), Some(2));

    // configure writes a private file in a private directory.
    person.eksgate(&["configure", "--api-url", "https://api.example.com/prod"]);
    let config = work.path().join(".config/eksgate/config.json");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&work.path().join(".config/eksgate")), 0o700);
    let settings: HashMap<String, Value> =
        serde_json::from_str(&fs::read_to_string(&config).expect("reading the configuration"))
            .expect("the configuration is JSON");
    assert_eq!(settings["api_url"], "https://api.example.com/prod");
}
