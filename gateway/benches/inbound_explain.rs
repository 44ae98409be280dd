//! Not a benchmark but a probe: every statement one inbound text sends to PostgreSQL, with its
//! `EXPLAIN (ANALYZE, BUFFERS)` plan, on a store of 1,000,000 messages.
//!
//! Run: `cargo bench -p gateway --bench inbound_explain` (PostgreSQL on 127.0.0.1:5432, from
//! `TEST_POSTGRES_URL`). It creates a fresh database from the migrated template and seeds it with
//! set-based SQL: one practice, 2,000 verified patients on the care team of 3 staff users,
//! 1,000,000 messages of which 200,000 are the texting patient's own history. A gateway started in
//! this process reaches PostgreSQL through a small proxy that reads the frontend protocol (Parse,
//! Bind, Query, Sync) without changing a byte. After a few warm-up texts, one signed inbound text
//! from that patient is sent and answered; the statements bound while it was in flight are then
//! replayed on a direct connection, in order, each as `EXPLAIN (ANALYZE, BUFFERS)` with the very
//! parameter bytes the gateway sent, inside one transaction that is rolled back (each under a
//! savepoint, so one failure does not hide the rest). The probe text is sent once the gateway has
//! been quiet for a second (its start-up sweeps done); a timed worker that wakes during the text
//! would still show among its statements. Because the statements are captured, not
//! copied, the probe follows the inbound path wherever it goes.
//!
//! It prints each statement with its plan, then the round trips (Sync messages) and connections
//! the text used, and flags any plan node that read 1,000 rows or more: no per-message statement
//! should scan a patient's whole history. Replayed writes find the text's rows already committed
//! (its message insert shows a conflict, not an insert). The database is dropped afterwards.

use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use chrono::Utc;
use gateway::settings::Settings;
use gateway::startup::Application;
use store::Audit;
use store::testing::TestPostgres;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use webhooks::{CarrierMessageId, InboundSms, PhoneNumber, signature};

mod seed;

const PATIENTS: i64 = 2_000;
const MESSAGES: i64 = 1_000_000;
/// The texting patient's own history.
const HISTORY: i64 = 200_000;
const PRACTICE_NUMBER: &str = "+15550000000";
/// The texting patient's number (patient 1 of the seed).
const SENDER: &str = "+15550000001";
/// A plan node that reads this many rows is flagged.
const FLAG_ROWS: u64 = 1_000;

// ---- the proxy -------------------------------------------------------------------------------

/// One frontend message of interest, in arrival order.
#[derive(Debug, Clone)]
enum Event {
    Parse {
        conn: usize,
        name: String,
        sql: String,
        types: Vec<u32>,
    },
    Bind {
        conn: usize,
        statement: String,
        formats: Vec<i16>,
        params: Vec<Option<Vec<u8>>>,
    },
    Query {
        conn: usize,
        sql: String,
    },
    Sync {
        conn: usize,
    },
}

type Log = Arc<Mutex<Vec<(Instant, Event)>>>;

async fn start_proxy(upstream: SocketAddr, log: Log) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut next_conn = 0;
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            next_conn += 1;
            let (conn, log) = (next_conn, Arc::clone(&log));
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut reader = FrontendReader::default();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // Log before forwarding, so a statement is logged before its answer can be.
                    reader.feed(&buf[..n], conn, &log);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                back.abort();
            });
        }
    });
    address
}

/// Splits the frontend byte stream into messages: untyped start-up messages first (an SSL or
/// GSS request is followed by another), then `type, int32 length, body`.
#[derive(Default)]
struct FrontendReader {
    pending: Vec<u8>,
    started: bool,
}

impl FrontendReader {
    fn feed(&mut self, bytes: &[u8], conn: usize, log: &Log) {
        self.pending.extend_from_slice(bytes);
        loop {
            if !self.started {
                let Some(len) = read_i32(&self.pending, 0) else {
                    return;
                };
                let len = len as usize;
                if self.pending.len() < len {
                    return;
                }
                let code = read_i32(&self.pending, 4).unwrap_or(0);
                // 80877103: SSLRequest, 80877104: GSSENCRequest; the start-up message follows.
                self.started = !(code == 80877103 || code == 80877104);
                self.pending.drain(..len);
                continue;
            }
            if self.pending.len() < 5 {
                return;
            }
            let kind = self.pending[0];
            let len = read_i32(&self.pending, 1).unwrap_or(4) as usize;
            if self.pending.len() < 1 + len {
                return;
            }
            let body = self.pending[5..1 + len].to_vec();
            self.pending.drain(..1 + len);
            if let Some(event) = decode(kind, &body, conn) {
                log.lock().unwrap().push((Instant::now(), event));
            }
        }
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_i16(bytes: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_cstr(bytes: &[u8], at: &mut usize) -> Option<String> {
    let end = *at + bytes.get(*at..)?.iter().position(|b| *b == 0)?;
    let s = String::from_utf8_lossy(&bytes[*at..end]).into_owned();
    *at = end + 1;
    Some(s)
}

fn decode(kind: u8, body: &[u8], conn: usize) -> Option<Event> {
    let mut at = 0;
    match kind {
        b'P' => {
            let name = read_cstr(body, &mut at)?;
            let sql = read_cstr(body, &mut at)?;
            let n = read_i16(body, at)? as usize;
            at += 2;
            let types = (0..n)
                .map(|i| read_i32(body, at + 4 * i).map(|t| t as u32))
                .collect::<Option<Vec<_>>>()?;
            Some(Event::Parse {
                conn,
                name,
                sql,
                types,
            })
        }
        b'B' => {
            let _portal = read_cstr(body, &mut at)?;
            let statement = read_cstr(body, &mut at)?;
            let nfmt = read_i16(body, at)? as usize;
            at += 2;
            let formats = (0..nfmt)
                .map(|i| read_i16(body, at + 2 * i))
                .collect::<Option<Vec<_>>>()?;
            at += 2 * nfmt;
            let nparams = read_i16(body, at)? as usize;
            at += 2;
            let mut params = Vec::with_capacity(nparams);
            for _ in 0..nparams {
                let len = read_i32(body, at)?;
                at += 4;
                if len < 0 {
                    params.push(None);
                } else {
                    params.push(Some(body.get(at..at + len as usize)?.to_vec()));
                    at += len as usize;
                }
            }
            Some(Event::Bind {
                conn,
                statement,
                formats,
                params,
            })
        }
        b'Q' => Some(Event::Query {
            conn,
            sql: read_cstr(body, &mut at)?,
        }),
        b'S' => Some(Event::Sync { conn }),
        _ => None,
    }
}

// ---- replaying -------------------------------------------------------------------------------

/// A parameter as the gateway sent it, passed on byte for byte.
#[derive(Debug)]
struct Raw {
    bytes: Option<Vec<u8>>,
    text: bool,
}

impl ToSql for Raw {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.bytes {
            None => Ok(IsNull::Yes),
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        if self.text {
            Format::Text
        } else {
            Format::Binary
        }
    }

    to_sql_checked!();
}

/// A statement bound while the text was in flight, with what it needs to be replayed.
struct Bound {
    conn: usize,
    sql: String,
    types: Vec<u32>,
    params: Vec<Raw>,
}

/// The `rows=N` of the actual part of a plan line, and any `Rows Removed by Filter: N`.
fn rows_read(line: &str) -> u64 {
    let actual = line
        .split("actual time=")
        .nth(1)
        .and_then(|rest| rest.split("rows=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let removed = line
        .split("Rows Removed by Filter: ")
        .nth(1)
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    actual.max(removed)
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- the run ---------------------------------------------------------------------------------

async fn seed(db: &TestPostgres) {
    let store = db.store();
    let audit = Audit::system(Utc::now());
    let practice = seed::practice(store.as_ref(), &audit, "Probe", PRACTICE_NUMBER).await;
    let mut staff = Vec::new();
    for n in 0..3 {
        let new = seed::staff(
            &practice,
            format!("probe{n}"),
            format!("probe{n}@example.org"),
            "x".into(),
        );
        staff.push(seed::create_user(store.as_ref(), &audit, new).await);
    }
    let client = seed::sql_client(&db.url).await;
    let started = Instant::now();
    // Patient i texts from +1555000000i (zero-padded to 7 digits); patient 1 is the sender.
    client
        .execute(
            "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                                   texting_status, texting_updated_at, created_at)
             SELECT gen_random_uuid(), $1, 'P' || i, 'Probe', DATE '1960-01-01',
                    '+1555' || lpad(i::text, 7, '0'), 'enabled', now(), now()
             FROM generate_series(1, $2::bigint) AS i",
            &[&practice.id, &PATIENTS],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO care_team (patient_id, user_id, added_at)
             SELECT p.id, u, now() FROM patients p CROSS JOIN unnest($1::uuid[]) AS u",
            &[&staff],
        )
        .await
        .unwrap();
    // The sender's history, then the rest spread over the other patients; ids in time order.
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE numbered AS
                 SELECT id, mobile_phone, row_number() OVER (ORDER BY mobile_phone) - 1 AS n FROM patients;
             INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, status,
                                   carrier, carrier_sid, from_number, to_number, created_at, updated_at)
             SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7' ||
                     substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
                    '{practice}', p.id, 'sms', CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                    'message ' || i, 'received', 'twilio', 'SMseed' || i, p.mobile_phone, '{PRACTICE_NUMBER}',
                    t.at, t.at
             FROM generate_series(1, {MESSAGES}) AS i
             JOIN numbered p ON p.n = CASE WHEN i <= {HISTORY} THEN 0
                                           ELSE 1 + i % ({PATIENTS} - 1) END
             CROSS JOIN LATERAL (SELECT now() - interval '180 days' + (i * interval '15 seconds') AS at) t;
             ANALYZE;",
            practice = practice.id
        ))
        .await
        .unwrap();
    println!(
        "seeded {PATIENTS} verified patients, {MESSAGES} messages ({HISTORY} of them the sender's) in {:?}",
        started.elapsed()
    );
}

fn signed_text(base: &str, token: &str, n: usize) -> (String, String) {
    let sms = InboundSms {
        message_sid: CarrierMessageId::parse(&format!("SM{}", uuid::Uuid::new_v4().simple()))
            .unwrap(),
        account_sid: "AC00000000000000000000000000000000".into(),
        messaging_service_sid: None,
        from: PhoneNumber::parse_e164(SENDER).unwrap(),
        to: PhoneNumber::parse_e164(PRACTICE_NUMBER).unwrap(),
        body: format!("probe message {n}: feeling fine today"),
        num_media: 0,
        num_segments: 1,
        media: Vec::new(),
        opt_out_type: None,
    };
    let form = sms.to_form();
    let sig = signature::compute(token, &format!("{base}/webhooks/twilio/sms"), &form);
    (webhooks::form::encode(&form), sig)
}

#[tokio::main]
async fn main() {
    let db = TestPostgres::migrated().await;
    seed(&db).await;

    let url: url::Url = db.url.parse().unwrap();
    let upstream: SocketAddr = tokio::net::lookup_host((
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let log: Log = Arc::default();
    let proxy = start_proxy(upstream, Arc::clone(&log)).await;
    let mut via_proxy = url.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port())).unwrap();

    let app = Application::build(Settings::for_tests(via_proxy.to_string()))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    // Webhooks are signed for the gateway's public URL, which need not be its listen address.
    let public = app
        .state()
        .settings
        .public_base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let token = app.state().webhook_token.expose().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let send = |n: usize| {
        let (body, sig) = signed_text(&public, &token, n);
        http.post(format!("{base}/webhooks/twilio/sms"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(signature::HEADER, sig)
            .body(body)
            .send()
    };
    // Warm-up: statement caches filled, pool connections open.
    for n in 0..20 {
        assert_eq!(send(n).await.unwrap().status(), 200);
    }
    // Start-up work (the overdue-readings sweep walks every patient) must not be captured: wait
    // until no statement has gone to PostgreSQL for a second (at most two minutes).
    let quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let last = log.lock().unwrap().last().map(|(at, _)| *at);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
            || quiet_since.elapsed() > Duration::from_secs(120)
        {
            break;
        }
    }
    let from = Instant::now();
    let answered = send(20).await.unwrap();
    let until = Instant::now();
    assert_eq!(answered.status(), 200);
    println!(
        "one inbound text from a verified patient answered 200 in {:?}",
        until - from
    );

    // The statements bound while it was in flight, with the SQL of their (earlier) Parse.
    let events = log.lock().unwrap().clone();
    let mut parsed: HashMap<(usize, String), (String, Vec<u32>)> = HashMap::new();
    let mut bound = Vec::new();
    let (mut syncs, mut simple) = (0, Vec::new());
    let mut conns = std::collections::BTreeSet::new();
    for (at, event) in events {
        let inside = at >= from && at <= until;
        match event {
            Event::Parse {
                conn,
                name,
                sql,
                types,
            } => {
                parsed.insert((conn, name), (sql, types));
            }
            Event::Bind {
                conn,
                statement,
                formats,
                params,
            } if inside => {
                let (sql, types) = parsed
                    .get(&(conn, statement))
                    .cloned()
                    .unwrap_or_else(|| ("<statement parsed before the capture>".into(), vec![]));
                let text = |i: usize| match formats.len() {
                    0 => false,
                    1 => formats[0] == 0,
                    _ => formats.get(i) == Some(&0),
                };
                let params = params
                    .into_iter()
                    .enumerate()
                    .map(|(i, bytes)| Raw {
                        bytes,
                        text: text(i),
                    })
                    .collect();
                conns.insert(conn);
                bound.push(Bound {
                    conn,
                    sql,
                    types,
                    params,
                });
            }
            Event::Query { conn, sql } if inside => {
                conns.insert(conn);
                simple.push((conn, sql));
            }
            Event::Sync { conn } if inside => {
                conns.insert(conn);
                syncs += 1;
            }
            _ => {}
        }
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    let client = seed::sql_client(&db.url).await;
    client.batch_execute("BEGIN").await.unwrap();
    let mut flagged = Vec::new();
    for (k, statement) in bound.iter().enumerate() {
        println!(
            "\n-- #{} (connection {}): {}",
            k + 1,
            statement.conn,
            one_line(&statement.sql)
        );
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {}", statement.sql);
        let types: Option<Vec<Type>> = statement
            .types
            .iter()
            .map(|oid| Type::from_oid(*oid))
            .collect();
        client.batch_execute("SAVEPOINT probe").await.unwrap();
        let prepared = match types.filter(|t| !t.is_empty() && t.len() == statement.params.len()) {
            Some(types) => client.prepare_typed(&explain, &types).await,
            None => client.prepare(&explain).await,
        };
        let params: Vec<&(dyn ToSql + Sync)> = statement
            .params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect();
        let rows = match prepared {
            Ok(prepared) => client.query(&prepared, &params).await,
            Err(e) => Err(e),
        };
        match rows {
            Ok(rows) => {
                client
                    .batch_execute("RELEASE SAVEPOINT probe")
                    .await
                    .unwrap();
                for row in rows {
                    let line: String = row.get(0);
                    println!("   {line}");
                    if rows_read(&line) >= FLAG_ROWS {
                        flagged.push(format!("#{}: {}", k + 1, line.trim()));
                    }
                }
            }
            Err(e) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT probe")
                    .await
                    .unwrap();
                println!("   (not replayed: {e})");
            }
        }
    }
    client.batch_execute("ROLLBACK").await.unwrap();

    println!(
        "\nthe text used {} bound statements, {} simple queries ({}), {} round trips (Sync) on {} connection(s)",
        bound.len(),
        simple.len(),
        simple
            .iter()
            .map(|(_, sql)| one_line(sql))
            .collect::<Vec<_>>()
            .join("; "),
        syncs + simple.len(),
        conns.len()
    );
    if flagged.is_empty() {
        println!("no plan node read {FLAG_ROWS} rows or more");
    } else {
        println!("plan nodes that read {FLAG_ROWS} rows or more:");
        for line in flagged {
            println!("  {line}");
        }
    }
}
