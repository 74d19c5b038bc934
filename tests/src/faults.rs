//! A fault-injecting HTTP proxy between the AWS SDK and a local moto server.
//!
//! [`FaultProxy`] listens on a free port of 127.0.0.1 and forwards every request to the moto
//! endpoint. At rates set per run, which can be changed while it runs, it injects:
//!
//! - throttling errors in the wire shape of the service, which it reads from the SigV4 credential
//!   scope of the `Authorization` header. DynamoDB (JSON 1.0) and EKS (REST-JSON) get HTTP 400
//!   with `x-amzn-ErrorType: ThrottlingException`, and DynamoDB also gets it as `__type` in the
//!   body. STS (query protocol) gets HTTP 400 with an XML `<Code>Throttling</Code>`;
//! - server errors, HTTP 500 or 503 in the same shapes;
//! - connection resets: the request is not forwarded and the connection closes with a TCP RST
//!   and no response;
//! - lost responses: the request is forwarded, so its side effect happens, and then the
//!   connection is reset in place of the response;
//! - latency: a sleep before forwarding.
//!
//! Every decision comes from one random number generator seeded per proxy and drawn in the order
//! in which requests arrive. A client that sends one request at a time therefore gets the same
//! faults on every run. With concurrent clients the arrival order, and with it which request gets
//! which fault, varies between runs, but the rates do not.
//!
//! [`FaultProxy::set_down`] makes the endpoint look dead: the listener closes, so connections are
//! refused, and every open connection is reset.
//!
//! The proxy forwards DynamoDB writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
//! TransactWriteItems) to moto one at a time. moto 5.2.5 evaluates a write's condition and stores
//! the item in separate steps without a lock, so two conditional writes that arrive together can
//! both pass the same condition, which DynamoDB never allows. Clients still race as before: only
//! moto's check and write become one step.
//!
//! Point an SDK client at the proxy by passing [`FaultProxy::endpoint`] as its endpoint URL, for
//! example to [`crate::local_importer`] or [`crate::aws::local_config`].

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::{request, response};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The error faults that the proxy injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A throttling error in the service's wire shape, without forwarding.
    Throttle,
    /// HTTP 500 or 503 in the service's wire shape, without forwarding.
    ServerError,
    /// A TCP reset in place of a response, without forwarding.
    Reset,
    /// The request is forwarded, then the connection is reset in place of moto's response.
    LostResponse,
}

/// The fault settings of a proxy. Each rate is the probability, from 0 to 1, that one request
/// gets that fault. The error rates together must not exceed 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    pub throttle: f64,
    pub server_error: f64,
    pub reset: f64,
    pub lost_response: f64,
    /// The probability of a sleep before forwarding, drawn independently of the error faults, so
    /// a delayed request can also get an error.
    pub latency: f64,
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// When set, the error fault is drawn once per SDK call (`amz-sdk-invocation-id`) and
    /// repeated on each of its retries, so a faulted call fails after the SDK's retries, as in an
    /// outage of that operation. Otherwise every attempt is drawn on its own, as in brief blips.
    /// Requests without an invocation ID are always drawn on their own.
    pub per_call: bool,
    /// The maximum number of error faults injected into one SDK call. Later attempts of the call
    /// are forwarded. With a value below the SDK's maximum attempts, the SDK's retries absorb
    /// every fault. `None` sets no limit.
    pub max_faults_per_call: Option<u32>,
}

impl FaultRates {
    /// Returns settings that inject nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Returns settings that inject throttling errors into `rate` of the requests.
    pub fn throttling(rate: f64) -> Self {
        Self {
            throttle: rate,
            ..Self::default()
        }
    }

    /// Returns settings that inject errors into `rate` of the requests, split evenly between
    /// throttling, server errors, resets and lost responses.
    pub fn mixed(rate: f64) -> Self {
        let each = rate / 4.0;
        Self {
            throttle: each,
            server_error: each,
            reset: each,
            lost_response: each,
            ..Self::default()
        }
    }

    /// Adds a sleep of `min` to `max`, uniformly drawn, before forwarding `rate` of the requests.
    pub fn with_latency(self, rate: f64, min: Duration, max: Duration) -> Self {
        Self {
            latency: rate,
            latency_min: min,
            latency_max: max,
            ..self
        }
    }

    /// Draws the error fault once per SDK call instead of once per attempt.
    pub fn per_call(self) -> Self {
        Self {
            per_call: true,
            ..self
        }
    }

    /// Limits the error faults injected into one SDK call to `max`.
    pub fn with_max_faults_per_call(self, max: u32) -> Self {
        Self {
            max_faults_per_call: Some(max),
            ..self
        }
    }

    /// Returns the probability that a request gets an error fault of any kind.
    pub fn error_rate(&self) -> f64 {
        self.throttle + self.server_error + self.reset + self.lost_response
    }

    /// Panics with a message naming the setting when a rate is outside 0 to 1, the error rates
    /// add up to more than 1, or the latency range is reversed.
    fn validate(&self) {
        for (name, rate) in [
            ("throttle", self.throttle),
            ("server_error", self.server_error),
            ("reset", self.reset),
            ("lost_response", self.lost_response),
            ("latency", self.latency),
        ] {
            assert!(
                (0.0..=1.0).contains(&rate),
                "fault rate {name} must be between 0 and 1, not {rate}"
            );
        }
        assert!(
            self.error_rate() <= 1.0 + 1e-9,
            "the error fault rates add up to {}, more than 1",
            self.error_rate()
        );
        assert!(
            self.latency_min <= self.latency_max,
            "latency_min {:?} is greater than latency_max {:?}",
            self.latency_min,
            self.latency_max
        );
    }
}

/// Counts of the proxy's requests and of the faults it injected, since it started or since
/// [`FaultProxy::reset_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests received, faulted or not.
    pub requests: u64,
    /// Requests sent on to moto, lost responses included.
    pub forwarded: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub resets: u64,
    pub lost_responses: u64,
    /// Requests that slept before forwarding.
    pub delayed: u64,
    /// DynamoDB `ConditionalCheckFailedException` responses from moto: conditional writes that
    /// lost a race, which the SDK does not retry.
    pub conditional_check_failures: u64,
    /// Connections reset by [`FaultProxy::set_down`].
    pub outage_resets: u64,
    /// Requests that moto did not respond to, returned to the client as HTTP 502.
    pub upstream_failures: u64,
}

impl ProxyStats {
    /// Returns the number of injected error faults of all kinds.
    pub fn injected(&self) -> u64 {
        self.throttled + self.server_errors + self.resets + self.lost_responses
    }
}

/// One request as the proxy received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The arrival time, measured from the proxy's start.
    pub arrived: Duration,
    /// The signing name from the SigV4 credential scope, such as `dynamodb`, `eks` or `sts`.
    pub service: Option<String>,
    /// The region from the SigV4 credential scope.
    pub region: Option<String>,
    /// The operation, such as `PutItem` or `DescribeCluster`, or the method and path when the
    /// proxy does not recognise it.
    pub operation: String,
    /// The `amz-sdk-invocation-id` header, the same for every attempt of one SDK call.
    pub invocation_id: Option<String>,
    /// The attempt number from the `amz-sdk-request` header, 1 for the first attempt.
    pub attempt: Option<u32>,
    pub fault: Option<FaultKind>,
}

/// Groups the records of SDK calls that made more than one attempt. Returns the arrival times of
/// each such call's attempts, in attempt order.
pub fn attempt_times(records: &[RequestRecord]) -> Vec<Vec<Duration>> {
    let mut calls: BTreeMap<&str, Vec<(u32, Duration)>> = BTreeMap::new();
    for record in records {
        if let (Some(id), Some(attempt)) = (&record.invocation_id, record.attempt) {
            calls
                .entry(id.as_str())
                .or_default()
                .push((attempt, record.arrived));
        }
    }
    calls
        .into_values()
        .filter(|attempts| attempts.len() > 1)
        .map(|mut attempts| {
            attempts.sort();
            attempts.into_iter().map(|(_, arrived)| arrived).collect()
        })
        .collect()
}

/// A running fault-injecting proxy. Dropping it closes the listener and resets its connections.
pub struct FaultProxy {
    shared: Arc<Shared>,
    address: SocketAddr,
    listener_task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `upstream`, a moto endpoint
    /// such as `http://127.0.0.1:5000`, and injects nothing until [`Self::set_faults`].
    ///
    /// Panics when `upstream` is not on 127.0.0.1 or no port can be bound.
    pub async fn start(upstream: &str, seed: u64) -> Self {
        assert!(
            upstream.starts_with("http://127.0.0.1:"),
            "the fault proxy forwards only to a local endpoint, not {upstream}"
        );
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the fault proxy to a free port of 127.0.0.1 failed");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            settings: Settings::default(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            calls: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            records: Mutex::new(Vec::new()),
            conflicts: Mutex::new(BTreeMap::new()),
            dynamodb_writes: tokio::sync::Mutex::new(()),
            started: Instant::now(),
            down: watch::Sender::new(false),
            listener_state: watch::Sender::new(ListenerState::Open),
        });
        let listener_task = tokio::spawn(run_listener(shared.clone(), listener, address));
        Self {
            shared,
            address,
            listener_task,
        }
    }

    /// Returns the endpoint URL to give SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Replaces the fault settings. Requests already past their fault decision keep the old
    /// ones. The fields are stored one by one, so a request that arrives during the call may see
    /// a mix of old and new settings.
    ///
    /// Panics when a rate is outside 0 to 1, the error rates add up to more than 1, or the
    /// latency range is reversed.
    pub fn set_faults(&self, rates: FaultRates) {
        rates.validate();
        self.shared.settings.store(&rates);
    }

    /// Returns the current fault settings.
    pub fn faults(&self) -> FaultRates {
        self.shared.settings.load()
    }

    /// Returns the counts since the start or the last [`Self::reset_counts`].
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Returns every request record since the start or the last [`Self::reset_counts`].
    pub fn records(&self) -> Vec<RequestRecord> {
        self.shared.records.lock().expect("records lock").clone()
    }

    /// Returns the DynamoDB `ConditionalCheckFailedException` responses from moto by operation,
    /// such as `PutItem` or `UpdateItem`, since the start or the last [`Self::reset_counts`].
    pub fn conditional_check_failures_by_operation(&self) -> BTreeMap<String, u64> {
        self.shared
            .conflicts
            .lock()
            .expect("conflicts lock")
            .clone()
    }

    /// Sets every count to zero and clears the request records.
    pub fn reset_counts(&self) {
        self.shared.counters.reset();
        self.shared.records.lock().expect("records lock").clear();
        self.shared
            .conflicts
            .lock()
            .expect("conflicts lock")
            .clear();
    }

    /// Takes the endpoint down or brings it back. Down, the listener is closed, so new
    /// connections are refused, and every open connection is reset, with requests in flight
    /// abandoned: what clients see of a killed server. Back up, the proxy listens on the same
    /// port again. Returns once the listener is in the requested state.
    ///
    /// Panics when the port cannot be bound again, or the listener does not follow within 5 s.
    pub async fn set_down(&self, down: bool) {
        self.shared.down.send_replace(down);
        let mut state = self.shared.listener_state.subscribe();
        let expected = if down {
            ListenerState::Closed
        } else {
            ListenerState::Open
        };
        let reached = tokio::time::timeout(
            Duration::from_secs(5),
            state.wait_for(|state| *state == expected || matches!(state, ListenerState::Failed(_))),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the fault proxy on {} did not reach {expected:?} within 5 s",
                self.address
            )
        })
        .expect("the listener task keeps its state sender")
        .clone();
        if let ListenerState::Failed(message) = reached {
            panic!(
                "the fault proxy could not listen on {} again: {message}",
                self.address
            );
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.listener_task.abort();
        self.shared.down.send_replace(true);
    }
}

/// The state that the proxy's tasks share.
struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    settings: Settings,
    rng: Mutex<fastrand::Rng>,
    /// The error faults of each SDK call seen, keyed by invocation ID.
    calls: Mutex<HashMap<String, CallFaults>>,
    counters: Counters,
    records: Mutex<Vec<RequestRecord>>,
    /// DynamoDB conditional-check failures by operation.
    conflicts: Mutex<BTreeMap<String, u64>>,
    /// Held while moto handles a DynamoDB write, so it handles one at a time.
    dynamodb_writes: tokio::sync::Mutex<()>,
    started: Instant,
    /// Whether the endpoint is down; every connection task watches it.
    down: watch::Sender<bool>,
    listener_state: watch::Sender<ListenerState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ListenerState {
    Open,
    Closed,
    Failed(String),
}

/// The fault drawn at an SDK call's first attempt, and how many error faults it got so far.
struct CallFaults {
    first_draw: Option<Injected>,
    injected: u32,
}

#[derive(Debug, Clone, Copy)]
struct Injected {
    kind: FaultKind,
    /// The HTTP status of a server error: 500 or 503.
    status: u16,
}

struct Decision {
    delay: Option<Duration>,
    fault: Option<Injected>,
}

/// Rates in parts per million, so that each fits an atomic integer.
const PARTS: f64 = 1_000_000.0;
/// The stored value of `max_faults_per_call` that means no limit.
const NO_LIMIT: u32 = u32::MAX;

/// [`FaultRates`] in atomics, so tests can change them while requests are in flight.
#[derive(Default)]
struct Settings {
    throttle: AtomicU32,
    server_error: AtomicU32,
    reset: AtomicU32,
    lost_response: AtomicU32,
    latency: AtomicU32,
    latency_min_micros: AtomicU64,
    latency_max_micros: AtomicU64,
    per_call: AtomicBool,
    max_faults_per_call: AtomicU32,
}

impl Settings {
    fn store(&self, rates: &FaultRates) {
        let parts = |rate: f64| (rate * PARTS).round() as u32;
        self.throttle.store(parts(rates.throttle), Ordering::SeqCst);
        self.server_error
            .store(parts(rates.server_error), Ordering::SeqCst);
        self.reset.store(parts(rates.reset), Ordering::SeqCst);
        self.lost_response
            .store(parts(rates.lost_response), Ordering::SeqCst);
        self.latency.store(parts(rates.latency), Ordering::SeqCst);
        self.latency_min_micros
            .store(rates.latency_min.as_micros() as u64, Ordering::SeqCst);
        self.latency_max_micros
            .store(rates.latency_max.as_micros() as u64, Ordering::SeqCst);
        self.per_call.store(rates.per_call, Ordering::SeqCst);
        self.max_faults_per_call.store(
            rates.max_faults_per_call.unwrap_or(NO_LIMIT),
            Ordering::SeqCst,
        );
    }

    fn load(&self) -> FaultRates {
        let rate = |parts: &AtomicU32| f64::from(parts.load(Ordering::SeqCst)) / PARTS;
        let max_faults = self.max_faults_per_call.load(Ordering::SeqCst);
        FaultRates {
            throttle: rate(&self.throttle),
            server_error: rate(&self.server_error),
            reset: rate(&self.reset),
            lost_response: rate(&self.lost_response),
            latency: rate(&self.latency),
            latency_min: Duration::from_micros(self.latency_min_micros.load(Ordering::SeqCst)),
            latency_max: Duration::from_micros(self.latency_max_micros.load(Ordering::SeqCst)),
            per_call: self.per_call.load(Ordering::SeqCst),
            max_faults_per_call: (max_faults != NO_LIMIT).then_some(max_faults),
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    resets: AtomicU64,
    lost_responses: AtomicU64,
    delayed: AtomicU64,
    conditional_check_failures: AtomicU64,
    outage_resets: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Counters {
    fn all(&self) -> [&AtomicU64; 10] {
        [
            &self.requests,
            &self.forwarded,
            &self.throttled,
            &self.server_errors,
            &self.resets,
            &self.lost_responses,
            &self.delayed,
            &self.conditional_check_failures,
            &self.outage_resets,
            &self.upstream_failures,
        ]
    }

    fn snapshot(&self) -> ProxyStats {
        let [
            requests,
            forwarded,
            throttled,
            server_errors,
            resets,
            lost_responses,
            delayed,
            conditional_check_failures,
            outage_resets,
            upstream_failures,
        ] = self.all().map(|counter| counter.load(Ordering::SeqCst));
        ProxyStats {
            requests,
            forwarded,
            throttled,
            server_errors,
            resets,
            lost_responses,
            delayed,
            conditional_check_failures,
            outage_resets,
            upstream_failures,
        }
    }

    fn reset(&self) {
        for counter in self.all() {
            counter.store(0, Ordering::SeqCst);
        }
    }
}

fn increment(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

impl Shared {
    /// Draws the delay and the error fault of one request. Every request takes the same four
    /// draws, so the sequence of draws depends only on the order of arrival.
    fn decide(&self, invocation_id: Option<&str>) -> Decision {
        let rates = self.settings.load();
        let (latency_draw, delay_draw, fault_draw, status_draw) = {
            let mut rng = self.rng.lock().expect("random number generator lock");
            (rng.f64(), rng.f64(), rng.f64(), rng.bool())
        };
        let delay = (latency_draw < rates.latency).then(|| {
            rates.latency_min + (rates.latency_max - rates.latency_min).mul_f64(delay_draw)
        });
        let drawn = draw_fault(&rates, fault_draw, status_draw);

        let Some(id) = invocation_id else {
            return Decision {
                delay,
                fault: drawn,
            };
        };
        let mut calls = self.calls.lock().expect("calls lock");
        let call = calls.entry(id.to_string()).or_insert(CallFaults {
            first_draw: drawn,
            injected: 0,
        });
        let candidate = if rates.per_call {
            call.first_draw
        } else {
            drawn
        };
        let within_limit = rates
            .max_faults_per_call
            .is_none_or(|max| call.injected < max);
        let fault = candidate.filter(|_| within_limit);
        if fault.is_some() {
            call.injected += 1;
        }
        Decision { delay, fault }
    }

    fn record(&self, record: RequestRecord) {
        self.records.lock().expect("records lock").push(record);
    }

    /// Sends the request on to moto and returns its response head and whole body. DynamoDB
    /// writes wait for each other, see the module documentation.
    async fn forward(
        &self,
        service: Option<&str>,
        operation: &str,
        parts: &request::Parts,
        body: Bytes,
    ) -> Result<(response::Parts, Bytes), String> {
        const DYNAMODB_WRITES: [&str; 5] = [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ];
        let _write_turn = match service {
            Some("dynamodb") if DYNAMODB_WRITES.contains(&operation) => {
                Some(self.dynamodb_writes.lock().await)
            }
            _ => None,
        };
        let path = parts
            .uri
            .path_and_query()
            .map(|path| path.as_str())
            .unwrap_or("/");
        let mut request = Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.upstream))
            .body(Full::new(body))
            .map_err(|error| format!("building the upstream request failed: {error}"))?;
        *request.headers_mut() = end_to_end_headers(&parts.headers);
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| format!("moto did not answer: {error}"))?;
        let (mut parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| format!("reading moto's response failed: {error}"))?
            .to_bytes();
        parts.headers = end_to_end_headers(&parts.headers);
        Ok((parts, body))
    }
}

/// Draws an error fault from one uniform number in 0..1, taking the kinds in a fixed order.
fn draw_fault(rates: &FaultRates, draw: f64, status_draw: bool) -> Option<Injected> {
    let kinds = [
        (FaultKind::Throttle, rates.throttle),
        (FaultKind::ServerError, rates.server_error),
        (FaultKind::Reset, rates.reset),
        (FaultKind::LostResponse, rates.lost_response),
    ];
    let mut bound = 0.0;
    for (kind, rate) in kinds {
        bound += rate;
        if draw < bound {
            let status = if status_draw { 503 } else { 500 };
            return Some(Injected { kind, status });
        }
    }
    None
}

/// Returns `headers` without the hop-by-hop headers, which apply to one connection only.
/// `content-length` stays: the proxy reads whole bodies, so it stays true.
fn end_to_end_headers(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(name);
    }
    kept
}

/// Accepts connections until the endpoint goes down, then waits to come back up and listens on
/// the same address again.
async fn run_listener(shared: Arc<Shared>, listener: TcpListener, address: SocketAddr) {
    let mut down = shared.down.subscribe();
    let mut listener = Some(listener);
    loop {
        if let Some(open) = &listener {
            tokio::select! {
                accepted = open.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_connection(shared.clone(), stream));
                    }
                    Err(error) => {
                        // Such as too many open files: wait instead of spinning on the error.
                        eprintln!("fault proxy on {address}: accepting a connection failed: {error}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                changed = down.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *down.borrow_and_update() {
                        listener = None;
                        shared.listener_state.send_replace(ListenerState::Closed);
                    }
                }
            }
        } else {
            if down.changed().await.is_err() {
                return;
            }
            if !*down.borrow_and_update() {
                match TcpListener::bind(address).await {
                    Ok(bound) => {
                        listener = Some(bound);
                        shared.listener_state.send_replace(ListenerState::Open);
                    }
                    Err(error) => {
                        shared
                            .listener_state
                            .send_replace(ListenerState::Failed(error.to_string()));
                    }
                }
            }
        }
    }
}

/// What the request handler uses to reset its connection.
#[derive(Clone)]
struct ConnectionControl {
    /// Makes the stream close with a TCP RST when it is dropped.
    abort: Arc<AtomicBool>,
    abort_requested: Arc<Notify>,
}

impl ConnectionControl {
    /// Resets the connection instead of responding. Never returns: the connection task drops the
    /// request handler with the connection.
    async fn reset(&self) -> Response<Full<Bytes>> {
        self.abort.store(true, Ordering::SeqCst);
        self.abort_requested.notify_one();
        std::future::pending().await
    }
}

/// Serves one client connection until the client closes it, a fault resets it or the endpoint
/// goes down.
async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    let control = ConnectionControl {
        abort: Arc::new(AtomicBool::new(false)),
        abort_requested: Arc::new(Notify::new()),
    };
    let io = TokioIo::new(ResettableStream {
        stream,
        abort: control.abort.clone(),
    });
    let service = {
        let shared = shared.clone();
        let control = control.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            let control = control.clone();
            async move { Ok::<_, Infallible>(handle(&shared, &control, request).await) }
        })
    };
    let connection = pin!(http1::Builder::new().serve_connection(io, service));
    let mut down = shared.down.subscribe();
    tokio::select! {
        // The client closed the connection, or it failed. Either way no client is left to respond to.
        _ = connection => {}
        _ = control.abort_requested.notified() => {}
        _ = down.wait_for(|down| *down) => {
            control.abort.store(true, Ordering::SeqCst);
            increment(&shared.counters.outage_resets);
        }
    }
    // The pinned connection, and with it the stream, is dropped here, after `abort` is set.
}

/// Handles one request: records it, sleeps, then responds with an injected fault or moto's
/// response.
async fn handle(
    shared: &Shared,
    control: &ConnectionControl,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let arrived = shared.started.elapsed();
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away while sending: nothing to answer.
        Err(_) => return control.reset().await,
    };
    let scope = credential_scope(&parts.headers);
    let service = scope.as_ref().map(|(_, service)| service.clone());
    let invocation_id = header_text(&parts.headers, "amz-sdk-invocation-id");
    let decision = shared.decide(invocation_id.as_deref());

    let operation = operation(service.as_deref(), &parts, &body);
    increment(&shared.counters.requests);
    shared.record(RequestRecord {
        arrived,
        service: service.clone(),
        region: scope.map(|(region, _)| region),
        operation: operation.clone(),
        invocation_id,
        attempt: attempt_number(&parts.headers),
        fault: decision.fault.map(|fault| fault.kind),
    });

    if let Some(delay) = decision.delay {
        increment(&shared.counters.delayed);
        tokio::time::sleep(delay).await;
    }
    match decision.fault.map(|fault| (fault.kind, fault.status)) {
        Some((FaultKind::Throttle, _)) => {
            increment(&shared.counters.throttled);
            error_response(service.as_deref(), ErrorKind::Throttling, 400)
        }
        Some((FaultKind::ServerError, status)) => {
            increment(&shared.counters.server_errors);
            error_response(service.as_deref(), ErrorKind::Server, status)
        }
        Some((FaultKind::Reset, _)) => {
            increment(&shared.counters.resets);
            control.reset().await
        }
        Some((FaultKind::LostResponse, _)) => {
            increment(&shared.counters.lost_responses);
            increment(&shared.counters.forwarded);
            // The side effect happens, whether or not moto answers.
            let _ = shared
                .forward(service.as_deref(), &operation, &parts, body)
                .await;
            control.reset().await
        }
        None => {
            increment(&shared.counters.forwarded);
            match shared
                .forward(service.as_deref(), &operation, &parts, body)
                .await
            {
                Ok((head, body)) => {
                    if is_conditional_check_failure(service.as_deref(), head.status, &body) {
                        increment(&shared.counters.conditional_check_failures);
                        *shared
                            .conflicts
                            .lock()
                            .expect("conflicts lock")
                            .entry(operation)
                            .or_default() += 1;
                    }
                    Response::from_parts(head, Full::new(body))
                }
                Err(message) => {
                    increment(&shared.counters.upstream_failures);
                    plain_response(StatusCode::BAD_GATEWAY, message)
                }
            }
        }
    }
}

fn is_conditional_check_failure(service: Option<&str>, status: StatusCode, body: &Bytes) -> bool {
    const CODE: &[u8] = b"ConditionalCheckFailedException";
    service == Some("dynamodb")
        && status == StatusCode::BAD_REQUEST
        && body.windows(CODE.len()).any(|window| window == CODE)
}

/// Returns the region and signing name of the SigV4 credential scope in the `Authorization`
/// header, `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn credential_scope(headers: &HeaderMap) -> Option<(String, String)> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization
        .split([',', ' '])
        .find_map(|field| field.trim().strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let (_key, _date) = (scope.next()?, scope.next()?);
    let region = scope.next()?;
    let service = scope.next()?;
    Some((region.to_string(), service.to_string()))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// Reads the attempt number from `amz-sdk-request: ttl=...; attempt=2; max=3`.
fn attempt_number(headers: &HeaderMap) -> Option<u32> {
    header_text(headers, "amz-sdk-request")?
        .split(';')
        .find_map(|field| field.trim().strip_prefix("attempt=")?.parse().ok())
}

/// Names the operation of a request from the service's protocol. DynamoDB (JSON 1.0) names it
/// in the `X-Amz-Target` header and STS (query) in the `Action` form field. For EKS (REST-JSON),
/// the method and path name the operations that eksgate and its tests call.
fn operation(service: Option<&str>, parts: &request::Parts, body: &Bytes) -> String {
    let fallback = || format!("{} {}", parts.method, parts.uri.path());
    match service {
        Some("dynamodb") => header_text(&parts.headers, "x-amz-target")
            .and_then(|target| target.rsplit('.').next().map(str::to_string))
            .unwrap_or_else(fallback),
        Some("sts") | Some("iam") => String::from_utf8_lossy(body)
            .split('&')
            .find_map(|field| field.strip_prefix("Action=").map(str::to_string))
            .unwrap_or_else(fallback),
        Some("eks") => {
            let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
            let name = match (parts.method.as_str(), segments.as_slice()) {
                ("GET", ["clusters"]) => "ListClusters",
                ("POST", ["clusters"]) => "CreateCluster",
                ("GET", ["clusters", _]) => "DescribeCluster",
                ("DELETE", ["clusters", _]) => "DeleteCluster",
                ("POST", ["tags", ..]) => "TagResource",
                ("DELETE", ["tags", ..]) => "UntagResource",
                ("GET", ["tags", ..]) => "ListTagsForResource",
                _ => return fallback(),
            };
            name.to_string()
        }
        _ => fallback(),
    }
}

#[derive(Clone, Copy)]
enum ErrorKind {
    Throttling,
    Server,
}

/// Builds an error response in the wire shape of `service`'s protocol, with the error code that
/// the service uses for throttling or for the given server-error status.
fn error_response(service: Option<&str>, kind: ErrorKind, status: u16) -> Response<Full<Bytes>> {
    let code = match (service, kind, status) {
        (Some("sts") | Some("iam"), ErrorKind::Throttling, _) => "Throttling",
        (_, ErrorKind::Throttling, _) => "ThrottlingException",
        (Some("dynamodb"), ErrorKind::Server, 503) => "ServiceUnavailable",
        (Some("dynamodb"), ErrorKind::Server, _) => "InternalServerError",
        (Some("sts") | Some("iam"), ErrorKind::Server, 503) => "ServiceUnavailable",
        (Some("sts") | Some("iam"), ErrorKind::Server, _) => "InternalFailure",
        (_, ErrorKind::Server, 503) => "ServiceUnavailableException",
        (_, ErrorKind::Server, _) => "ServerException",
    };
    let message = match kind {
        ErrorKind::Throttling => "Rate exceeded (injected by the eksgate fault proxy)",
        ErrorKind::Server => "Internal error (injected by the eksgate fault proxy)",
    };
    let status = StatusCode::from_u16(status).expect("400, 500 and 503 are valid statuses");
    let request_id = "00000000-0000-4000-8000-fa0170000000";

    let (content_type, body, error_type_header) = match service {
        Some("sts") | Some("iam") => {
            let fault_type = match kind {
                ErrorKind::Throttling => "Sender",
                ErrorKind::Server => "Receiver",
            };
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <Error><Type>{fault_type}</Type><Code>{code}</Code><Message>{message}</Message>\
                 </Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            );
            ("text/xml", body, false)
        }
        Some("dynamodb") => {
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                "message": message,
            });
            ("application/x-amz-json-1.0", body.to_string(), true)
        }
        _ => {
            let body = serde_json::json!({ "message": message });
            ("application/json", body.to_string(), true)
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_static(request_id),
    );
    if error_type_header {
        headers.insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(code),
        );
    }
    response
}

fn plain_response(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// A TCP stream that closes with a reset (RST) instead of an orderly close (FIN) when `abort` is
/// set before it is dropped.
struct ResettableStream {
    stream: TcpStream,
    abort: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.abort.load(Ordering::SeqCst) {
            // With a zero linger time, closing the socket sends RST and discards unsent data.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn credential_scope_read_from_authorization() {
        let signed = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261204/eu-west-1/dynamodb/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc",
        )]);
        assert_eq!(
            credential_scope(&signed),
            Some(("eu-west-1".to_string(), "dynamodb".to_string()))
        );
        assert_eq!(credential_scope(&headers(&[])), None);
        let unsigned = headers(&[("authorization", "Bearer token")]);
        assert_eq!(credential_scope(&unsigned), None);
    }

    #[test]
    fn attempt_number_read_from_sdk_header() {
        let retry = headers(&[("amz-sdk-request", "ttl=20261204T170000Z; attempt=2; max=3")]);
        assert_eq!(attempt_number(&retry), Some(2));
        let first = headers(&[("amz-sdk-request", "attempt=1; max=3")]);
        assert_eq!(attempt_number(&first), Some(1));
        assert_eq!(attempt_number(&headers(&[])), None);
    }

    #[test]
    fn fault_drawn_by_rate_bands() {
        let rates = FaultRates {
            throttle: 0.1,
            server_error: 0.2,
            reset: 0.3,
            lost_response: 0.1,
            ..FaultRates::none()
        };
        let kind = |draw| draw_fault(&rates, draw, false).map(|fault| fault.kind);
        assert_eq!(kind(0.05), Some(FaultKind::Throttle));
        assert_eq!(kind(0.15), Some(FaultKind::ServerError));
        assert_eq!(kind(0.45), Some(FaultKind::Reset));
        assert_eq!(kind(0.65), Some(FaultKind::LostResponse));
        assert_eq!(kind(0.75), None);
        assert_eq!(draw_fault(&rates, 0.15, true).unwrap().status, 503);
    }

    #[test]
    fn settings_round_trip_through_atomics() {
        let rates = FaultRates::mixed(0.2)
            .with_latency(0.5, Duration::from_millis(5), Duration::from_millis(40))
            .per_call()
            .with_max_faults_per_call(2);
        let settings = Settings::default();
        settings.store(&rates);
        assert_eq!(settings.load(), rates);
        settings.store(&FaultRates::none());
        assert_eq!(settings.load(), FaultRates::none());
    }

    #[test]
    #[should_panic(expected = "add up to")]
    fn rates_above_one_rejected() {
        FaultRates {
            throttle: 0.6,
            reset: 0.6,
            ..FaultRates::none()
        }
        .validate();
    }

    #[test]
    fn retries_grouped_by_invocation() {
        let record = |id: &str, attempt: u32, millis: u64| RequestRecord {
            arrived: Duration::from_millis(millis),
            service: Some("eks".into()),
            region: Some("eu-west-1".into()),
            operation: "DescribeCluster".into(),
            invocation_id: Some(id.into()),
            attempt: Some(attempt),
            fault: None,
        };
        let records = [
            record("a", 2, 30),
            record("b", 1, 5),
            record("a", 1, 10),
            record("a", 3, 90),
        ];
        assert_eq!(
            attempt_times(&records),
            vec![vec![
                Duration::from_millis(10),
                Duration::from_millis(30),
                Duration::from_millis(90)
            ]]
        );
    }
}
