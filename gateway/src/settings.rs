//! Settings: the environment variables of API.md, parsed once into a typed [`Settings`].
//!
//! Parsing takes a lookup function instead of reading the process environment directly, so tests
//! build settings without touching global state. A bad value stops start-up with an error that
//! names the variable. `Debug` never prints the Twilio auth token.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use thiserror::Error;
use url::Url;

#[derive(Debug, Error)]
#[error("{variable}: {message}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        variable,
        message: message.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub auth_token: Secret,
}

/// Where the store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// `DATABASE_URL` was given (postgres://… or sqlite://…).
    Url(String),
    /// The embedded SQLite file under `GATEWAY_DATA_DIR`.
    Embedded(PathBuf),
}

impl StoreLocation {
    pub fn url(&self) -> String {
        match self {
            StoreLocation::Url(url) => url.clone(),
            StoreLocation::Embedded(path) => format!("sqlite://{}", path.display()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `METRICS_LISTEN`: when set, `/metrics` is served on this address only (not on `listen`),
    /// for deployments that do not expose it publicly.
    pub metrics_listen: Option<SocketAddr>,
    pub store: StoreLocation,
    pub data_dir: PathBuf,
    /// The base URL the carrier calls; webhook signatures are checked against it.
    pub public_base_url: Url,
    /// `None` selects the dev transport.
    pub twilio: Option<TwilioCredentials>,
    pub twilio_api_base: Url,
    pub sms_sender_mps: NonZeroU32,
    /// `TWILIO_TIMEOUT_SECS`: how long one request to Twilio may take before it counts as a
    /// timeout (and the text is retried); at most half the outbox lease, so a claim always
    /// outlives the request made under it.
    pub twilio_timeout: std::time::Duration,
    /// `SMTP_URL`: where notification emails go; `None` selects the dev mail transport, which
    /// sends nothing. May hold credentials, hence a secret.
    pub smtp_url: Option<Secret>,
    /// `SMTP_FROM`: the sender of notification emails.
    pub smtp_from: lettre::message::Mailbox,
    pub log_filter: String,
    pub log_format: LogFormat,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses settings from any source of variables (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        // Empty values count as unset: `FOO= gateway` should not mean "FOO is the empty string".
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let listen_raw = get("GATEWAY_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            invalid(
                "GATEWAY_LISTEN",
                format!("{listen_raw:?} is not an address such as 127.0.0.1:8080"),
            )
        })?;

        let metrics_listen = get("METRICS_LISTEN")
            .map(|raw| {
                raw.parse::<SocketAddr>().map_err(|_| {
                    invalid(
                        "METRICS_LISTEN",
                        format!("{raw:?} is not an address such as 127.0.0.1:9090"),
                    )
                })
            })
            .transpose()?;

        let data_dir = PathBuf::from(get("GATEWAY_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let store = match get("DATABASE_URL") {
            Some(url) => {
                let known = ["postgres://", "postgresql://", "sqlite://"];
                if !known.iter().any(|p| url.starts_with(p)) {
                    return Err(invalid(
                        "DATABASE_URL",
                        "must start with postgres://, postgresql:// or sqlite://",
                    ));
                }
                if url.starts_with("sqlite://") && url.len() == "sqlite://".len() {
                    return Err(invalid(
                        "DATABASE_URL",
                        "sqlite:// needs a file path, e.g. sqlite://./data/gateway.db",
                    ));
                }
                StoreLocation::Url(url)
            }
            None => StoreLocation::Embedded(data_dir.join("gateway.db")),
        };

        let public_base_url = match get("PUBLIC_BASE_URL") {
            Some(raw) => parse_base_url("PUBLIC_BASE_URL", &raw)?,
            None => parse_base_url("GATEWAY_LISTEN", &format!("http://{listen}"))?,
        };

        let twilio = match (get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "TWILIO_AUTH_TOKEN",
                    "must be set when TWILIO_ACCOUNT_SID is",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "TWILIO_ACCOUNT_SID",
                    "must be set when TWILIO_AUTH_TOKEN is",
                ));
            }
            (Some(sid), Some(token)) => {
                if !(sid.starts_with("AC")
                    && sid.len() == 34
                    && sid[2..].chars().all(|c| c.is_ascii_hexdigit()))
                {
                    return Err(invalid(
                        "TWILIO_ACCOUNT_SID",
                        "must be AC followed by 32 hexadecimal digits",
                    ));
                }
                Some(TwilioCredentials {
                    account_sid: sid,
                    auth_token: Secret::new(token),
                })
            }
        };

        let twilio_api_base = parse_base_url(
            "TWILIO_API_BASE",
            &get("TWILIO_API_BASE").unwrap_or_else(|| "https://api.twilio.com".into()),
        )?;

        let sms_sender_mps = match get("SMS_SENDER_MPS") {
            None => NonZeroU32::new(1).expect("1 is not zero"),
            Some(raw) => raw.trim().parse::<NonZeroU32>().map_err(|_| {
                invalid(
                    "SMS_SENDER_MPS",
                    format!("{raw:?} is not a whole number of messages per second above 0"),
                )
            })?,
        };

        let twilio_timeout = match get("TWILIO_TIMEOUT_SECS") {
            None => crate::carrier::twilio::SEND_TIMEOUT,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|secs| (1..=MAX_TWILIO_TIMEOUT_SECS).contains(secs))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    invalid(
                        "TWILIO_TIMEOUT_SECS",
                        format!("{raw:?} is not a whole number of seconds from 1 to {MAX_TWILIO_TIMEOUT_SECS}"),
                    )
                })?,
        };

        let smtp_url = get("SMTP_URL")
            .map(|raw| parse_smtp_url(&raw))
            .transpose()?;
        let smtp_from_raw = get("SMTP_FROM").unwrap_or_else(|| DEFAULT_SMTP_FROM.into());
        let smtp_from = smtp_from_raw.parse().map_err(|_| {
            invalid(
                "SMTP_FROM",
                format!(
                    "{smtp_from_raw:?} is not a mailbox such as \"Clinic <alerts@example.org>\""
                ),
            )
        })?;

        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| invalid("RUST_LOG", format!("not a valid filter: {e}")))?;
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("{other:?} is neither text nor json"),
                ));
            }
        };

        Ok(Settings {
            listen,
            metrics_listen,
            store,
            data_dir,
            public_base_url,
            twilio,
            twilio_api_base,
            sms_sender_mps,
            twilio_timeout,
            smtp_url,
            smtp_from,
            log_filter,
            log_format,
        })
    }

    /// Settings for tests and embedding: everything default, on the given store, on port 0.
    pub fn for_tests(store_url: String) -> Settings {
        let mut settings = Self::from_lookup(|_| None).expect("defaults are valid");
        settings.listen = "127.0.0.1:0".parse().expect("valid address");
        settings.store = StoreLocation::Url(store_url);
        settings
    }
}

/// The longest `TWILIO_TIMEOUT_SECS`: half the outbox lease.
pub const MAX_TWILIO_TIMEOUT_SECS: u64 = crate::workers::outbox::LEASE.as_secs() / 2;

/// The sender of notification emails when `SMTP_FROM` is not set.
pub const DEFAULT_SMTP_FROM: &str = "Care gateway <gateway@localhost>";

/// `smtp://[user:pass@]host[:port]` (plain, or STARTTLS with `?tls=required`) or `smtps://…`
/// (TLS from the start), as lettre reads them. The error never repeats the value: it may hold a
/// password.
fn parse_smtp_url(raw: &str) -> Result<Secret, SettingsError> {
    let url = Url::parse(raw).map_err(|e| invalid("SMTP_URL", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
        return Err(invalid(
            "SMTP_URL",
            "must be an smtp:// or smtps:// URL with a host, e.g. smtp://mail.example.org:587?tls=required",
        ));
    }
    Ok(Secret::new(raw))
}

fn parse_base_url(variable: &'static str, raw: &str) -> Result<Url, SettingsError> {
    let url =
        Url::parse(raw).map_err(|e| invalid(variable, format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            variable,
            format!("{raw:?} must be an http:// or https:// URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(variable, "must not carry a query or a fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn metrics_share_the_listener_unless_metrics_listen_names_another_address() {
        assert_eq!(parse(&[]).unwrap().metrics_listen, None);
        assert_eq!(
            parse(&[("METRICS_LISTEN", "127.0.0.1:9090")])
                .unwrap()
                .metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let error = parse(&[("METRICS_LISTEN", "everywhere")]).unwrap_err();
        assert_eq!(error.variable, "METRICS_LISTEN");
    }

    #[test]
    fn smtp_is_off_by_default_and_a_bad_url_or_sender_names_its_variable_without_the_secret() {
        let s = parse(&[]).unwrap();
        assert!(s.smtp_url.is_none());
        assert_eq!(s.smtp_from.email.to_string(), "gateway@localhost");

        let s = parse(&[
            ("SMTP_URL", "smtp://user:hunter22@127.0.0.1:2525"),
            ("SMTP_FROM", "Clinic <alerts@example.org>"),
        ])
        .unwrap();
        assert_eq!(
            s.smtp_url.as_ref().map(Secret::expose),
            Some("smtp://user:hunter22@127.0.0.1:2525")
        );
        assert!(!format!("{s:?}").contains("hunter22"));
        assert_eq!(s.smtp_from.email.to_string(), "alerts@example.org");

        for bad in ["http://user:hunter22@mail", "smtp://", "not a url hunter22"] {
            let err = parse(&[("SMTP_URL", bad)]).unwrap_err();
            assert_eq!(err.variable, "SMTP_URL", "{bad}");
            assert!(!err.to_string().contains("hunter22"), "{err}");
        }
        let err = parse(&[("SMTP_FROM", "no at sign")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_FROM");
    }

    #[test]
    fn nothing_set_means_embedded_sqlite_on_localhost_8080_with_the_dev_transport() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            s.store,
            StoreLocation::Embedded(PathBuf::from("./data/gateway.db"))
        );
        assert_eq!(s.public_base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(s.twilio.is_none());
        assert_eq!(s.twilio_api_base.as_str(), "https://api.twilio.com/");
        assert_eq!(s.sms_sender_mps.get(), 1);
        assert_eq!(s.twilio_timeout, std::time::Duration::from_secs(10));
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn the_twilio_timeout_is_whole_seconds_up_to_half_the_lease() {
        let s = parse(&[("TWILIO_TIMEOUT_SECS", "3")]).unwrap();
        assert_eq!(s.twilio_timeout, std::time::Duration::from_secs(3));
        assert!(parse(&[("TWILIO_TIMEOUT_SECS", "30")]).is_ok());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("GATEWAY_LISTEN", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("PUBLIC_BASE_URL", "ftp://example.org"),
            ("TWILIO_API_BASE", "not a url"),
            ("SMS_SENDER_MPS", "0"),
            ("SMS_SENDER_MPS", "fast"),
            ("TWILIO_TIMEOUT_SECS", "0"),
            ("TWILIO_TIMEOUT_SECS", "31"),
            ("TWILIO_TIMEOUT_SECS", "1.5"),
            ("LOG_FORMAT", "xml"),
            ("RUST_LOG", "=[="),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}: {err}");
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn twilio_credentials_come_in_pairs_and_the_token_never_shows_in_debug() {
        let err =
            parse(&[("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")]).unwrap_err();
        assert_eq!(err.variable, "TWILIO_AUTH_TOKEN");
        let s = parse(&[
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "supersecret"),
        ])
        .unwrap();
        assert_eq!(
            s.twilio.as_ref().unwrap().auth_token.expose(),
            "supersecret"
        );
        assert!(!format!("{s:?}").contains("supersecret"));
    }

    #[test]
    fn the_public_base_url_defaults_to_the_listen_address() {
        let s = parse(&[("GATEWAY_LISTEN", "0.0.0.0:9000")]).unwrap();
        assert_eq!(s.public_base_url.as_str(), "http://0.0.0.0:9000/");
        let s = parse(&[("PUBLIC_BASE_URL", "https://gw.example.org")]).unwrap();
        assert_eq!(s.public_base_url.as_str(), "https://gw.example.org/");
    }

    #[test]
    fn database_url_selects_the_store() {
        let s = parse(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gw")]).unwrap();
        assert_eq!(s.store.url(), "postgres://postgres@127.0.0.1:5432/gw");
        let s = parse(&[("GATEWAY_DATA_DIR", "/var/lib/gateway")]).unwrap();
        assert_eq!(s.store.url(), "sqlite:///var/lib/gateway/gateway.db");
    }
}
