//! The safety rails of every run: the target must be a loopback address, and every run is bounded
//! in request count, rate, patients and wall-clock time, so that it stops by itself.
//!
//! Everything here is pure (no I/O), so it is unit-tested without a gateway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// The highest steady rate of webhooks a run may ask for, per second.
pub const MAX_RATE: u32 = 2_000;
/// The longest steady phase a run may ask for.
pub const MAX_DURATION_SECS: u64 = 300;
/// The most synthetic patients a run may create.
pub const MAX_PATIENTS: u32 = 1_000;
/// The most webhooks of the steady phase (rate × duration).
pub const MAX_REQUESTS: u64 = 120_000;
/// The most requests in flight at once.
pub const MAX_CONCURRENCY: u32 = 512;
/// The most measured rounds of each server in a closed-loop run.
pub const MAX_ROUNDS: u32 = 10;
/// The longest warm-up of each server in a closed-loop run.
pub const MAX_WARMUP_SECS: u64 = 60;
/// The most requests signed ahead of one closed-loop round (about 400 bytes each in memory).
pub const MAX_PRESIGNED: usize = 400_000;
/// Set-up and the no-loss check get this long on top of the steady phase; past it the run stops
/// with an error.
pub const SETUP_AND_CHECK_BUDGET: Duration = Duration::from_secs(300);

/// Why a run was refused before it sent anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// `--target` is not a URL.
    BadUrl(String),
    /// Only `http` and `https`.
    Scheme(String),
    /// The host is not 127.0.0.0/8, ::1 or localhost.
    NotLoopback(String),
    /// User info, a query or a fragment: they would change the signed webhook URL.
    Extra(&'static str),
    /// A bound was exceeded (or a value was zero).
    Bound(String),
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::BadUrl(why) => write!(f, "--target is not a URL: {why}"),
            GuardError::Scheme(s) => write!(f, "--target must be http or https, not {s:?}"),
            GuardError::NotLoopback(host) => write!(
                f,
                "refusing to load {host:?}: the load generator only targets loopback addresses \
                 (127.0.0.0/8, ::1 or localhost)"
            ),
            GuardError::Extra(what) => write!(f, "--target must not carry {what}"),
            GuardError::Bound(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for GuardError {}

/// A target that passed the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The base URL without a trailing slash, as given (webhooks are signed with it, so it must
    /// be the gateway's `PUBLIC_BASE_URL`).
    pub base: String,
    /// For `localhost`, the loopback address the HTTP client must use, so that name resolution
    /// can never send the load elsewhere.
    pub pinned: Option<(String, SocketAddr)>,
}

/// Accepts `raw` only when its host is a loopback address.
pub fn loopback_target(raw: &str) -> Result<Target, GuardError> {
    let url = Url::parse(raw.trim()).map_err(|e| GuardError::BadUrl(e.to_string()))?;
    let default_port = match url.scheme() {
        "http" => 80,
        "https" => 443,
        other => return Err(GuardError::Scheme(other.to_owned())),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GuardError::Extra("user info"));
    }
    if url.query().is_some() {
        return Err(GuardError::Extra("a query string"));
    }
    if url.fragment().is_some() {
        return Err(GuardError::Extra("a fragment"));
    }
    let port = url.port().unwrap_or(default_port);
    let pinned = match url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => None,
        Some(url::Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => None,
        Some(url::Host::Domain(name))
            if name.eq_ignore_ascii_case("localhost")
                || name.eq_ignore_ascii_case("localhost.") =>
        {
            Some((
                name.to_owned(),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            ))
        }
        Some(other) => return Err(GuardError::NotLoopback(other.to_string())),
        None => return Err(GuardError::NotLoopback(String::new())),
    };
    Ok(Target {
        base: url.as_str().trim_end_matches('/').to_owned(),
        pinned,
    })
}

/// Checks the size of a run against the bounds above.
pub fn check_bounds(
    patients: u32,
    rate: u32,
    duration_secs: u64,
    concurrency: u32,
) -> Result<(), GuardError> {
    let bound = |ok: bool, why: String| {
        if ok {
            Ok(())
        } else {
            Err(GuardError::Bound(why))
        }
    };
    bound(
        (1..=MAX_PATIENTS).contains(&patients),
        format!("--patients must be 1..={MAX_PATIENTS}, not {patients}"),
    )?;
    bound(
        (1..=MAX_RATE).contains(&rate),
        format!("--rate must be 1..={MAX_RATE} per second, not {rate}"),
    )?;
    bound(
        (1..=MAX_DURATION_SECS).contains(&duration_secs),
        format!("--duration must be 1..={MAX_DURATION_SECS} seconds, not {duration_secs}"),
    )?;
    bound(
        (1..=MAX_CONCURRENCY).contains(&concurrency),
        format!("--concurrency must be 1..={MAX_CONCURRENCY}, not {concurrency}"),
    )?;
    let requests = u64::from(rate) * duration_secs;
    bound(
        requests <= MAX_REQUESTS,
        format!("rate × duration is {requests} requests; at most {MAX_REQUESTS} per run"),
    )
}

/// Checks the shape of a closed-loop run: rounds, their length and the warm-up.
pub fn check_closed(rounds: u32, duration_secs: u64, warmup_secs: u64) -> Result<(), GuardError> {
    if !(1..=MAX_ROUNDS).contains(&rounds) {
        return Err(GuardError::Bound(format!(
            "--rounds must be 1..={MAX_ROUNDS}, not {rounds}"
        )));
    }
    if !(1..=MAX_DURATION_SECS).contains(&duration_secs) {
        return Err(GuardError::Bound(format!(
            "--duration must be 1..={MAX_DURATION_SECS} seconds, not {duration_secs}"
        )));
    }
    if warmup_secs > MAX_WARMUP_SECS {
        return Err(GuardError::Bound(format!(
            "--warmup must be 0..={MAX_WARMUP_SECS} seconds, not {warmup_secs}"
        )));
    }
    Ok(())
}

/// The wall-clock time the loaded phases of a closed-loop run take: every round and warm-up of
/// both servers.
pub fn closed_loop_secs(rounds: u32, duration_secs: u64, warmup_secs: u64) -> u64 {
    2 * (u64::from(rounds) * duration_secs + warmup_secs)
}

/// The socket a plain-HTTP target listens on (the closed-loop client speaks HTTP/1.1 on its own
/// connections, without TLS).
pub fn plain_http_addr(target: &Target) -> Result<SocketAddr, GuardError> {
    let url = Url::parse(&target.base).map_err(|e| GuardError::BadUrl(e.to_string()))?;
    if url.scheme() != "http" {
        return Err(GuardError::Scheme(format!(
            "{} (the closed-loop client speaks plain HTTP)",
            url.scheme()
        )));
    }
    if let Some((_, addr)) = &target.pinned {
        return Ok(*addr);
    }
    let port = url.port().unwrap_or(80);
    match url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(SocketAddr::new(IpAddr::V4(ip), port)),
        Some(url::Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => {
            Ok(SocketAddr::new(IpAddr::V6(ip), port))
        }
        other => Err(GuardError::NotLoopback(
            other.map(|h| h.to_string()).unwrap_or_default(),
        )),
    }
}

/// Accepts the PostgreSQL server the baseline creates its database on only when it is on a
/// loopback address (the load generator never writes anywhere else).
pub fn loopback_postgres(raw: &str) -> Result<String, GuardError> {
    let url = Url::parse(raw.trim()).map_err(|e| GuardError::BadUrl(e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(GuardError::Scheme(url.scheme().to_owned()));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        // A postgres:// URL's host is opaque to the URL parser: an IPv4 address is a "domain".
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    };
    // A `host=` query parameter would override the URL's host.
    if !loopback
        || url
            .query_pairs()
            .any(|(k, _)| k == "host" || k == "hostaddr")
    {
        return Err(GuardError::NotLoopback(
            url.host_str().unwrap_or_default().to_owned(),
        ));
    }
    Ok(raw.trim().to_owned())
}

/// Accepts a listen address for the fake carrier only when it is a loopback address.
pub fn loopback_listen(raw: &str) -> Result<SocketAddr, GuardError> {
    let addr: SocketAddr = raw.trim().parse().map_err(|_| {
        GuardError::BadUrl(format!(
            "--carrier-listen must be IP:PORT such as 127.0.0.1:18081, not {raw:?}"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(GuardError::NotLoopback(addr.ip().to_string()));
    }
    Ok(addr)
}

/// Checks the spacing of critical readings: at least one second and at most the run's duration.
pub fn check_critical_every(every_secs: u64, duration_secs: u64) -> Result<(), GuardError> {
    if (1..=duration_secs).contains(&every_secs) {
        Ok(())
    } else {
        Err(GuardError::Bound(format!(
            "--critical-every must be 1..={duration_secs} seconds (the duration), not {every_secs}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.1.2.3:9",
            "https://127.0.0.1",
            "http://[::1]:8080",
        ] {
            let target = loopback_target(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(target.pinned.is_none(), "{ok}");
            assert!(!target.base.ends_with('/'), "{ok}");
        }
        assert_eq!(
            loopback_target("http://127.0.0.1:8080/").unwrap().base,
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn localhost_passes_and_is_pinned_to_the_loopback_address() {
        let target = loopback_target("http://LocalHost:8081").unwrap();
        let (name, addr) = target.pinned.unwrap();
        assert_eq!(name, "localhost");
        assert_eq!(addr, "127.0.0.1:8081".parse().unwrap());
        let target = loopback_target("http://localhost").unwrap();
        assert_eq!(target.pinned.unwrap().1.port(), 80);
    }

    #[test]
    fn anything_else_is_refused_with_a_clear_error() {
        for bad in [
            "http://10.0.0.1:8080",
            "http://0.0.0.0:8080",
            "http://128.0.0.1",
            "http://[::2]:8080",
            "http://[::ffff:10.0.0.1]:80",
            "http://example.org",
            "http://localhost.example.org",
            "http://127.0.0.1.nip.io",
            "http://192.168.1.10",
        ] {
            let err = loopback_target(bad).unwrap_err();
            assert!(matches!(err, GuardError::NotLoopback(_)), "{bad}: {err:?}");
            assert!(err.to_string().contains("only targets loopback"), "{bad}");
        }
        assert!(matches!(
            loopback_target("ftp://127.0.0.1"),
            Err(GuardError::Scheme(_))
        ));
        assert!(matches!(
            loopback_target("127.0.0.1:8080"),
            Err(GuardError::Scheme(_) | GuardError::BadUrl(_))
        ));
        assert!(matches!(
            loopback_target("not a url"),
            Err(GuardError::BadUrl(_))
        ));
        assert!(matches!(
            loopback_target("http://u:p@127.0.0.1"),
            Err(GuardError::Extra(_))
        ));
        assert!(matches!(
            loopback_target("http://127.0.0.1/?a=1"),
            Err(GuardError::Extra(_))
        ));
    }

    #[test]
    fn runs_are_bounded() {
        assert!(check_bounds(50, 200, 20, 64).is_ok());
        assert!(check_bounds(MAX_PATIENTS, MAX_RATE, 60, MAX_CONCURRENCY).is_ok());
        for (patients, rate, secs, conc) in [
            (0, 10, 10, 1),
            (MAX_PATIENTS + 1, 10, 10, 1),
            (1, 0, 10, 1),
            (1, MAX_RATE + 1, 10, 1),
            (1, 10, 0, 1),
            (1, 10, MAX_DURATION_SECS + 1, 1),
            (1, 10, 10, 0),
            (1, 10, 10, MAX_CONCURRENCY + 1),
            (1, MAX_RATE, MAX_DURATION_SECS, 1),
        ] {
            assert!(
                matches!(
                    check_bounds(patients, rate, secs, conc),
                    Err(GuardError::Bound(_))
                ),
                "{patients} {rate} {secs} {conc}"
            );
        }
    }

    #[test]
    fn the_fake_carrier_listens_on_loopback_only() {
        assert_eq!(
            loopback_listen("127.0.0.1:18081").unwrap(),
            "127.0.0.1:18081".parse().unwrap()
        );
        assert!(loopback_listen("[::1]:0").is_ok());
        assert!(matches!(
            loopback_listen("0.0.0.0:18081"),
            Err(GuardError::NotLoopback(_))
        ));
        assert!(matches!(
            loopback_listen("10.0.0.1:18081"),
            Err(GuardError::NotLoopback(_))
        ));
        assert!(matches!(
            loopback_listen("localhost:18081"),
            Err(GuardError::BadUrl(_))
        ));
    }

    #[test]
    fn closed_loop_runs_are_bounded() {
        assert!(check_closed(2, 30, 3).is_ok());
        assert!(check_closed(MAX_ROUNDS, MAX_DURATION_SECS, MAX_WARMUP_SECS).is_ok());
        for (rounds, secs, warmup) in [
            (0, 30, 0),
            (MAX_ROUNDS + 1, 30, 0),
            (2, 0, 0),
            (2, MAX_DURATION_SECS + 1, 0),
            (2, 30, MAX_WARMUP_SECS + 1),
        ] {
            assert!(
                matches!(
                    check_closed(rounds, secs, warmup),
                    Err(GuardError::Bound(_))
                ),
                "{rounds} {secs} {warmup}"
            );
        }
        assert_eq!(closed_loop_secs(2, 30, 3), 126);
    }

    #[test]
    fn the_closed_loop_client_needs_a_plain_http_loopback_socket() {
        let addr = |raw: &str| plain_http_addr(&loopback_target(raw).unwrap());
        assert_eq!(
            addr("http://127.0.0.1:18080").unwrap(),
            "127.0.0.1:18080".parse().unwrap()
        );
        assert_eq!(
            addr("http://[::1]:81").unwrap(),
            "[::1]:81".parse().unwrap()
        );
        assert_eq!(
            addr("http://localhost:9000").unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(addr("http://127.0.0.1").unwrap().port(), 80);
        assert!(matches!(
            addr("https://127.0.0.1:8443"),
            Err(GuardError::Scheme(_))
        ));
    }

    #[test]
    fn the_baseline_database_must_be_on_loopback() {
        for ok in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgresql://u@localhost/postgres",
            "postgres://postgres@[::1]:5432/postgres",
        ] {
            assert!(loopback_postgres(ok).is_ok(), "{ok}");
        }
        for bad in [
            "postgres://postgres@db.example.org:5432/postgres",
            "postgres://postgres@10.0.0.5/postgres",
            "postgres://postgres@127.0.0.1/postgres?host=10.0.0.5",
            "postgres:///postgres",
        ] {
            assert!(
                matches!(loopback_postgres(bad), Err(GuardError::NotLoopback(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            loopback_postgres("mysql://127.0.0.1/x"),
            Err(GuardError::Scheme(_))
        ));
        assert!(loopback_postgres("not a url").is_err());
    }

    #[test]
    fn critical_readings_are_spaced_within_the_run() {
        assert!(check_critical_every(2, 30).is_ok());
        assert!(check_critical_every(30, 30).is_ok());
        assert!(check_critical_every(0, 30).is_err());
        assert!(check_critical_every(31, 30).is_err());
    }
}
