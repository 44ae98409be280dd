//! The catalogue of every metric the gateway emits: name, kind, help text, the label values known
//! in advance and, for histograms, the buckets.
//!
//! Call sites name metrics by the constants below, so a name cannot drift from its entry. At
//! start-up [`register_known_series`] creates every series whose label values are all known
//! (counters at 0, histograms empty, gauges at 0 until their publisher sets them), so that the
//! first failure is an increase Prometheus can see rather than a new series; [`describe_all`]
//! gives each metric its `# HELP` line. Series whose labels are open-ended (HTTP route and
//! status) appear with their first request.
//!
//! To add a metric: a constant in `names!`, an entry in [`CATALOGUE`], and the constant at the
//! call site. The tests below refuse a metric macro in `gateway/src` whose name or label is not
//! catalogued, and a catalogued metric that no code emits.

/// Declares the name constants and [`NAMES`], the list the tests check call sites against.
macro_rules! names {
    ($($(#[$doc:meta])* $constant:ident = $name:literal;)*) => {
        $($(#[$doc])* pub const $constant: &str = $name;)*
        /// Every name constant with its identifier.
        pub const NAMES: &[(&str, &str)] = &[$((stringify!($constant), $name)),*];
    };
}

names! {
    HTTP_REQUESTS = "http_requests_total";
    HTTP_REQUEST_DURATION = "http_request_duration_seconds";
    STORE_UP = "gateway_store_up";
    OUTBOX_DEPTH = "gateway_outbox_depth";
    OUTBOX_OLDEST_AGE = "gateway_outbox_oldest_age_seconds";
    ALERTS_OPEN = "gateway_alerts_open";
    ALERTS_OLDEST_OPEN_AGE = "gateway_alerts_oldest_open_age_seconds";
    INBOUND_MESSAGES = "gateway_inbound_messages_total";
    OUTBOUND_MESSAGES = "gateway_outbound_messages_total";
    OUTBOUND_DELIVERY = "gateway_outbound_delivery_total";
    CARRIER_REQUEST_DURATION = "gateway_carrier_request_duration_seconds";
    CARRIER_OPT_OUTS = "gateway_carrier_opt_outs_total";
    STATUS_CALLBACKS = "gateway_status_callbacks_total";
    WEBHOOK_SIGNATURE_FAILURES = "gateway_webhook_signature_failures_total";
    EMAILS = "gateway_emails_total";
    TEXTING_TRANSITIONS = "gateway_texting_transitions_total";
    READINGS = "gateway_readings_total";
    ALERTS_OPENED = "gateway_alerts_opened_total";
    ALERTS_ACKNOWLEDGED = "gateway_alerts_acknowledged_total";
    ALERT_TIME_TO_ACK = "gateway_alert_time_to_ack_seconds";
    ESCALATION_STEPS = "gateway_escalation_steps_total";
    ESCALATION_UNREACHABLE = "gateway_escalation_unreachable_total";
    ESCALATION_ERRORS = "gateway_escalation_errors_total";
    READINGS_REPEATED = "gateway_readings_repeated_total";
    ALERT_TEXT_ACKS = "gateway_alert_text_acks_total";
    ACCESS_REFUSED = "gateway_access_refused_total";
    LOGIN_DELAYS = "gateway_login_delays_total";
    RELEASED_CLAIMS = "gateway_released_claims_total";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The values a label takes, as far as they are known before the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Exactly these.
    Known(&'static [&'static str]),
    /// The configured carrier's name (`twilio` or `dev`).
    Carrier,
    /// The configured mail transport's name (`smtp` or `dev`).
    MailTransport,
    /// Not known in advance (HTTP route and status): no series before the first event.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub name: &'static str,
    pub values: Values,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// The `# HELP` text: what one unit means, in one line.
    pub help: &'static str,
    pub labels: &'static [Label],
    /// Histogram bucket bounds (ascending); empty for other kinds.
    pub buckets: &'static [f64],
}

/// Request and carrier latency, in seconds: fine below 100 ms where the API should live, and
/// including 1 s, the latency alert's threshold.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Time to acknowledge an alert, in seconds: 30 s to 2 h, including 15 minutes.
pub const TIME_TO_ACK_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// Outbox priorities as `gateway_outbox_depth` labels them (see [`priority_label`]).
pub const OUTBOX_PRIORITIES: &[&str] = &["alert", "reply", "notify", "routine"];

/// The `priority` label of an outbox row's priority (`store::priority`); a priority between two
/// named ones counts with the lower.
pub fn priority_label(priority: i16) -> &'static str {
    use store::priority::{ALERT, NOTIFY, REPLY};
    if priority >= ALERT {
        "alert"
    } else if priority >= REPLY {
        "reply"
    } else if priority >= NOTIFY {
        "notify"
    } else {
        "routine"
    }
}

const fn label(name: &'static str, values: &'static [&'static str]) -> Label {
    Label {
        name,
        values: Values::Known(values),
    }
}

const fn open(name: &'static str) -> Label {
    Label {
        name,
        values: Values::Open,
    }
}

const fn counter(name: &'static str, help: &'static str, labels: &'static [Label]) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        help,
        labels,
        buckets: &[],
    }
}

const fn gauge(name: &'static str, help: &'static str, labels: &'static [Label]) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        help,
        labels,
        buckets: &[],
    }
}

const fn histogram(
    name: &'static str,
    help: &'static str,
    labels: &'static [Label],
    buckets: &'static [f64],
) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        help,
        labels,
        buckets,
    }
}

/// Every metric the gateway emits.
pub const CATALOGUE: &[Metric] = &[
    // HTTP.
    counter(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route pattern and status code.",
        &[open("method"), open("route"), open("status")],
    ),
    histogram(
        HTTP_REQUEST_DURATION,
        "Time to answer an HTTP request in seconds, by method and matched route pattern.",
        &[open("method"), open("route")],
        LATENCY_BUCKETS,
    ),
    // Published from the store by the monitoring worker (the same on every instance).
    gauge(
        STORE_UP,
        "1 if the store answered this instance's last probe (every few seconds), else 0.",
        &[],
    ),
    gauge(
        OUTBOX_DEPTH,
        "Texts queued or being sent, store-wide, by priority (alert, reply, notify, routine).",
        &[label("priority", OUTBOX_PRIORITIES)],
    ),
    gauge(
        OUTBOX_OLDEST_AGE,
        "Seconds the oldest text queued or being sent has waited, store-wide; 0 when none waits.",
        &[],
    ),
    gauge(
        ALERTS_OPEN,
        "Critical-reading alerts not yet acknowledged, store-wide.",
        &[],
    ),
    gauge(
        ALERTS_OLDEST_OPEN_AGE,
        "Seconds the oldest unacknowledged alert has been open, store-wide; 0 when none is open.",
        &[],
    ),
    // Messaging.
    counter(
        INBOUND_MESSAGES,
        "Inbound texts by kind: recorded (from a known patient), unknown_sender, unknown_number, \
         duplicate (a repeated MessageSid), alert_ack (an ACK reply to an alert text; see \
         gateway_alert_text_acks_total for what it did).",
        &[label(
            "kind",
            &[
                "recorded",
                "unknown_sender",
                "unknown_number",
                "duplicate",
                "alert_ack",
            ],
        )],
    ),
    counter(
        OUTBOUND_MESSAGES,
        "Outbound send attempts by outcome: sent (accepted by the carrier), failed (permanent, \
         given up, or lost twice), retried (temporary error), unrecorded (answer not recorded), \
         cancelled (the number opted out before the claim).",
        &[label(
            "status",
            &["sent", "failed", "retried", "unrecorded", "cancelled"],
        )],
    ),
    counter(
        OUTBOUND_DELIVERY,
        "Final statuses of outbound texts reported by carrier status callbacks.",
        &[label(
            "status",
            &["delivered", "undelivered", "failed", "canceled", "read"],
        )],
    ),
    histogram(
        CARRIER_REQUEST_DURATION,
        "Time of one send request to the carrier in seconds, by carrier and outcome.",
        &[
            Label {
                name: "carrier",
                values: Values::Carrier,
            },
            label("outcome", &["accepted", "permanent", "retryable"]),
        ],
        LATENCY_BUCKETS,
    ),
    counter(
        CARRIER_OPT_OUTS,
        "Patients opted out because the carrier answered error 21610, by where it came from.",
        &[label("source", &["send_answer", "status_callback"])],
    ),
    counter(
        STATUS_CALLBACKS,
        "Carrier status callbacks by result: applied, stale (older than the stored status), \
         parked (before the send was recorded), applied_late, settled_by_fetch, unknown.",
        &[label(
            "result",
            &[
                "applied",
                "stale",
                "parked",
                "applied_late",
                "settled_by_fetch",
                "unknown",
            ],
        )],
    ),
    counter(
        WEBHOOK_SIGNATURE_FAILURES,
        "Carrier webhooks refused because X-Twilio-Signature was missing or did not match.",
        &[label(
            "route",
            &["/webhooks/twilio/sms", "/webhooks/twilio/status"],
        )],
    ),
    counter(
        EMAILS,
        "Notification email attempts by result (sent, retried, failed) and mail transport.",
        &[
            label("result", &["sent", "retried", "failed"]),
            Label {
                name: "transport",
                values: Values::MailTransport,
            },
        ],
    ),
    counter(
        TEXTING_TRANSITIONS,
        "Changes of a patient's texting status, by the status entered.",
        &[label(
            "to",
            &["not_enabled", "pending", "failed", "opted_out", "enabled"],
        )],
    ),
    // Readings and alerts.
    counter(
        READINGS,
        "Device readings recorded, by classification (unclassified: no ranges for the vital).",
        &[label(
            "status",
            &["normal", "caution", "critical", "unclassified"],
        )],
    ),
    counter(
        READINGS_REPEATED,
        "Readings a device sent again (same patient, vital, time and value), answered as the first.",
        &[],
    ),
    counter(ALERTS_OPENED, "Critical-reading alerts opened.", &[]),
    counter(
        ALERTS_ACKNOWLEDGED,
        "Critical-reading alerts acknowledged.",
        &[],
    ),
    histogram(
        ALERT_TIME_TO_ACK,
        "Seconds from opening an alert to its acknowledgement.",
        &[],
        TIME_TO_ACK_BUCKETS,
    ),
    counter(
        ESCALATION_STEPS,
        "Escalation steps taken on unacknowledged alerts.",
        &[],
    ),
    counter(
        ESCALATION_UNREACHABLE,
        "Alert openings and escalation rounds that reached nobody by text (no reachable number).",
        &[],
    ),
    counter(
        ESCALATION_ERRORS,
        "Escalation steps that failed with an error (the alert is tried again; others go on).",
        &[],
    ),
    counter(
        RELEASED_CLAIMS,
        "Claims (text, email) of instances that died, released before their lease ran out.",
        &[label("kind", &["text", "email"])],
    ),
    // Access and sessions.
    counter(
        ACCESS_REFUSED,
        "Requests refused by tenancy (answered 404) or by role (answered 403); never audited in \
         the other tenant's log.",
        &[label("reason", &["tenancy", "role"])],
    ),
    counter(
        LOGIN_DELAYS,
        "Logins made to wait for their turn because their username failed often lately.",
        &[],
    ),
    counter(
        ALERT_TEXT_ACKS,
        "ACK replies by text by result: acknowledged, already_acknowledged, not_recognised.",
        &[label(
            "result",
            &["acknowledged", "already_acknowledged", "not_recognised"],
        )],
    ),
];

/// The catalogue entry of `name`.
pub fn find(name: &str) -> Option<&'static Metric> {
    CATALOGUE.iter().find(|metric| metric.name == name)
}

/// What decides the values of configuration-dependent labels.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    pub carrier: &'a str,
    pub mail_transport: &'a str,
}

/// Gives every metric its help text. Needs the recorder installed (see `metrics_handle`).
pub fn describe_all() {
    for metric in CATALOGUE {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// Every label set of `metric` made of known values (the cartesian product of its labels'
/// values); empty when a label is open-ended.
pub fn known_label_sets(metric: &Metric, configured: Configured<'_>) -> Vec<Vec<metrics::Label>> {
    let mut sets = vec![Vec::new()];
    for label in metric.labels {
        let values: Vec<&str> = match label.values {
            Values::Known(values) => values.to_vec(),
            Values::Carrier => vec![configured.carrier],
            Values::MailTransport => vec![configured.mail_transport],
            Values::Open => return Vec::new(),
        };
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |value| {
                    let mut set = set.clone();
                    set.push(metrics::Label::new(label.name, value.to_string()));
                    set
                })
            })
            .collect();
    }
    sets
}

/// Creates every series with known labels without changing any value: counters stay at what
/// they are (0 when new), histograms get their buckets, gauges exist (0) until published.
pub fn register_known_series(configured: Configured<'_>) {
    for metric in CATALOGUE {
        for labels in known_label_sets(metric, configured) {
            match metric.kind {
                Kind::Counter => metrics::counter!(metric.name, labels).increment(0),
                Kind::Gauge => drop(metrics::gauge!(metric.name, labels)),
                Kind::Histogram => drop(metrics::histogram!(metric.name, labels)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::*;

    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    #[test]
    fn every_entry_is_well_formed_and_named_by_a_constant() {
        let mut seen = BTreeSet::new();
        for metric in CATALOGUE {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(valid_name(metric.name), "{}", metric.name);
            assert!(
                NAMES.iter().any(|(_, name)| *name == metric.name),
                "{} has no constant",
                metric.name
            );
            assert!(
                !metric.help.is_empty() && !metric.help.contains('\n'),
                "{}: help must be one line",
                metric.name
            );
            // Prometheus conventions (promtool check metrics lints the same).
            assert_eq!(
                metric.kind == Kind::Counter,
                metric.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                metric.name
            );
            assert_eq!(
                metric.kind == Kind::Histogram,
                !metric.buckets.is_empty(),
                "{}: histograms, and only histograms, have buckets",
                metric.name
            );
            assert!(
                metric.buckets.windows(2).all(|w| w[0] < w[1]),
                "{}: buckets ascend",
                metric.name
            );
            for label in metric.labels {
                assert!(valid_name(label.name), "{}: {}", metric.name, label.name);
                if let Values::Known(values) = label.values {
                    assert!(!values.is_empty(), "{}: {}", metric.name, label.name);
                }
            }
        }
        assert_eq!(seen.len(), NAMES.len(), "every constant is catalogued");
    }

    #[test]
    fn the_alert_thresholds_fall_on_bucket_bounds() {
        // GatewayHighLatency: p99 above 1 s; time to acknowledge: 15 minutes.
        assert!(find(HTTP_REQUEST_DURATION).unwrap().buckets.contains(&1.0));
        assert!(find(ALERT_TIME_TO_ACK).unwrap().buckets.contains(&900.0));
    }

    #[test]
    fn known_label_values_match_the_code_that_produces_them() {
        let values = |metric: &str, label: &str| -> Vec<&'static str> {
            let label = find(metric)
                .unwrap()
                .labels
                .iter()
                .find(|l| l.name == label)
                .unwrap();
            match label.values {
                Values::Known(values) => values.to_vec(),
                other => panic!("{other:?}"),
            }
        };
        let statuses: Vec<&str> = crate::domain::texting::TextingStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(values(TEXTING_TRANSITIONS, "to"), statuses);
        let levels: BTreeSet<&str> = crate::domain::readings::Level::ALL
            .iter()
            .map(|l| l.as_str())
            .collect();
        let catalogued: BTreeSet<&str> = values(READINGS, "status").into_iter().collect();
        assert_eq!(catalogued, levels);
        assert_eq!(
            values(WEBHOOK_SIGNATURE_FAILURES, "route"),
            [
                crate::carrier::INBOUND_WEBHOOK_PATH,
                crate::carrier::STATUS_CALLBACK_PATH
            ]
        );
        for status in values(OUTBOUND_DELIVERY, "status") {
            let parsed: webhooks::status::MessageStatus = status.parse().unwrap();
            assert!(parsed.is_final(), "{status}");
        }
        let priorities: BTreeSet<&str> = [
            store::priority::ALERT,
            store::priority::REPLY,
            store::priority::NOTIFY,
            store::priority::ROUTINE,
        ]
        .into_iter()
        .map(priority_label)
        .collect();
        assert_eq!(priorities.len(), OUTBOX_PRIORITIES.len());
        assert!(priorities.iter().all(|p| OUTBOX_PRIORITIES.contains(p)));
    }

    #[test]
    fn label_sets_are_every_combination_of_known_values() {
        let configured = Configured {
            carrier: "twilio",
            mail_transport: "smtp",
        };
        let emails = known_label_sets(find(EMAILS).unwrap(), configured);
        assert_eq!(emails.len(), 3);
        assert!(emails.iter().all(|set| set[1].value() == "smtp"));
        let carrier = known_label_sets(find(CARRIER_REQUEST_DURATION).unwrap(), configured);
        assert_eq!(carrier.len(), 3);
        assert_eq!(
            known_label_sets(find(ALERTS_OPENED).unwrap(), configured),
            vec![Vec::<metrics::Label>::new()]
        );
        assert!(known_label_sets(find(HTTP_REQUESTS).unwrap(), configured).is_empty());
    }

    /// A metric macro call found in the source: file, name argument, label keys and the literal
    /// values given to them.
    struct CallSite {
        file: String,
        name: String,
        labels: Vec<(String, Option<String>)>,
    }

    fn call_sites() -> Vec<CallSite> {
        let call = regex::Regex::new(r"\b(counter|gauge|histogram)!\(").unwrap();
        let label = regex::Regex::new(r#""([a-z_]+)"\s*=>\s*("([^"]*)")?"#).unwrap();
        let mut sites = Vec::new();
        let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("catalogue.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for found in call.find_iter(&source) {
                // The arguments run to the parenthesis that closes the macro call.
                let rest = &source[found.end()..];
                let mut depth = 1;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map(|(i, _)| i)
                    .unwrap();
                let args = &rest[..end];
                let name = args.split(',').next().unwrap().trim().to_string();
                let labels = label
                    .captures_iter(args)
                    .map(|c| (c[1].to_string(), c.get(3).map(|v| v.as_str().to_string())))
                    .collect();
                sites.push(CallSite {
                    file: path.display().to_string(),
                    name,
                    labels,
                });
            }
        }
        sites
    }

    /// The metric a call site's name argument denotes: a string literal, or a constant of this
    /// catalogue by any path.
    fn resolve(name: &str) -> Option<&'static str> {
        if let Some(literal) = name.strip_prefix('"') {
            let literal = literal.trim_end_matches('"');
            return CATALOGUE.iter().find(|m| m.name == literal).map(|m| m.name);
        }
        let constant = name.rsplit("::").next().unwrap();
        NAMES
            .iter()
            .find(|(ident, _)| *ident == constant)
            .map(|(_, value)| *value)
    }

    #[test]
    fn every_metric_the_code_emits_is_catalogued_with_its_labels() {
        let sites = call_sites();
        assert!(sites.len() > 20, "the scan finds the call sites");
        let mut used = BTreeMap::new();
        for site in &sites {
            let name = resolve(&site.name).unwrap_or_else(|| {
                panic!(
                    "{}: metric {} is not in the catalogue (telemetry/catalogue.rs)",
                    site.file, site.name
                )
            });
            *used.entry(name).or_insert(0) += 1;
            let metric = find(name).unwrap();
            let keys: Vec<&str> = site.labels.iter().map(|(k, _)| k.as_str()).collect();
            let expected: Vec<&str> = metric.labels.iter().map(|l| l.name).collect();
            assert_eq!(keys, expected, "{}: labels of {name}", site.file);
            for ((key, value), label) in site.labels.iter().zip(metric.labels) {
                if let (Some(value), Values::Known(known)) = (value, label.values) {
                    assert!(
                        known.contains(&value.as_str()),
                        "{}: {name}{{{key}=\"{value}\"}} is not a catalogued value",
                        site.file
                    );
                }
            }
        }
        for metric in CATALOGUE {
            assert!(
                used.contains_key(metric.name),
                "{} is catalogued but nothing emits it",
                metric.name
            );
        }
    }
}
