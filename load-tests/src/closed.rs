//! The closed-loop client: a fixed number of workers, each on its own HTTP/1.1 connection, each
//! sending the next signed webhook as soon as the previous one was answered, until the round's
//! time is up or the pre-signed requests run out.
//!
//! Every request is signed (and its `MessageSid` drawn) before the clock starts, so the client
//! spends its time on the wire and not on HMACs; the same code drives the gateway and the
//! baseline. Latency is from writing a request to having read its whole answer (closed loop:
//! there is no schedule to fall behind). Each worker keeps its own recorder and delivery list,
//! merged when the round ends, so no lock is taken per request.
//!
//! A transport error or timeout is recorded as an unknown outcome (the request may or may not
//! have been committed) and the worker opens a new connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::client::{SMS_PATH, SignedWebhook};
use crate::ledger::Delivery;
use crate::stats::Recorder;

/// One webhook signed ahead of a round.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The synthetic patient's index (for the no-loss check).
    pub patient: usize,
    pub sid: String,
    pub body: Bytes,
    pub signature: HeaderValue,
}

impl Prepared {
    pub fn new(patient: usize, hook: SignedWebhook) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            patient,
            sid: hook.sid,
            body: Bytes::from(hook.body),
            signature: HeaderValue::from_str(&hook.signature).context("signature header")?,
        })
    }
}

/// Where the webhooks go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The `Host` header (the server rebuilds the signed URL from its own public base URL).
    pub host: HeaderValue,
}

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("a socket address is a header"),
        }
    }
}

/// What one round did.
#[derive(Debug)]
pub struct RoundRun {
    pub recorder: Recorder,
    /// `(index into the pool, outcome)` of every request sent.
    pub deliveries: Vec<(usize, Delivery)>,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// The pool ran out before the time was up.
    pub exhausted: bool,
}

/// Sends `pool` (in order, shared by the workers) over `concurrency` connections until
/// `duration` has passed or the pool is used up; waits for the requests in flight.
pub async fn drive(
    endpoint: &Endpoint,
    pool: Arc<Vec<Prepared>>,
    concurrency: usize,
    duration: Duration,
    timeout: Duration,
) -> RoundRun {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (endpoint, pool, next) = (endpoint.clone(), Arc::clone(&pool), Arc::clone(&next));
        workers.spawn(worker(endpoint, pool, next, deadline, timeout));
    }
    let mut recorder = Recorder::new();
    let mut deliveries = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (rec, mut list) = done.expect("a closed-loop worker panicked");
        recorder.merge(&rec);
        deliveries.append(&mut list);
    }
    RoundRun {
        recorder,
        deliveries,
        elapsed: start.elapsed(),
        exhausted: next.load(Ordering::Relaxed) >= pool.len() && Instant::now() < deadline,
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(endpoint: &Endpoint) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(endpoint.addr)
        .await
        .with_context(|| format!("connecting to {}", endpoint.addr))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; errors show on the next send.
        let _ = connection.await;
    });
    Ok(sender)
}

async fn worker(
    endpoint: Endpoint,
    pool: Arc<Vec<Prepared>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
    timeout: Duration,
) -> (Recorder, Vec<(usize, Delivery)>) {
    let mut recorder = Recorder::new();
    let mut deliveries = Vec::new();
    let mut sender: Option<Sender> = None;
    while Instant::now() < deadline {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(hook) = pool.get(index) else { break };
        let began = Instant::now();
        let status = send(&endpoint, &mut sender, hook, timeout).await;
        let label = match status {
            Some(200) => "200",
            Some(403) => "403",
            Some(422) => "422",
            Some(503) => "503",
            Some(500) => "500",
            Some(_) => "other",
            None => "transport",
        };
        recorder.record(began.elapsed(), label, status == Some(200));
        deliveries.push((index, Delivery::from_status(status)));
        if status.is_none() {
            // A broken or timed-out connection is not reused.
            sender = None;
        }
    }
    (recorder, deliveries)
}

/// Sends one webhook on the worker's connection (opening it when needed); the status, or `None`
/// for a transport error or timeout.
pub async fn send(
    endpoint: &Endpoint,
    sender: &mut Option<Sender>,
    hook: &Prepared,
    timeout: Duration,
) -> Option<u16> {
    let exchange = async {
        if sender.is_none() {
            *sender = Some(connect(endpoint).await.ok()?);
        }
        let connection = sender.as_mut()?;
        connection.ready().await.ok()?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(SMS_PATH)
            .header(HOST, endpoint.host.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(webhooks::signature::HEADER, hook.signature.clone())
            .body(Full::new(hook.body.clone()))
            .ok()?;
        let response = connection.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        // Read the (tiny) answer so the connection is ready for the next request.
        response.into_body().collect().await.ok()?;
        Some(status)
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}
