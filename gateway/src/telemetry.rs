//! Logging and metrics set-up for the process.
//!
//! Logs go to stderr as text or JSON. Nothing here may log message bodies, dates of birth,
//! tokens or query strings (which can hold patient names): request spans carry the matched route
//! pattern, never the raw URI. The Prometheus recorder is process-wide; every application built in
//! one process (tests start many) shares it. What it records is listed in [`catalogue`].

pub mod catalogue;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Installs the global tracing subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus handle, installing the recorder on first use. Histograms get the
/// buckets of their catalogue entry and every metric its help text.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for metric in catalogue::CATALOGUE {
                if metric.kind == catalogue::Kind::Histogram {
                    builder = builder
                        .set_buckets_for_metric(Matcher::Full(metric.name.into()), metric.buckets)
                        .expect("catalogued histograms have buckets");
                }
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which case ours stays unused.
            if metrics::set_global_recorder(recorder).is_ok() {
                catalogue::describe_all();
            }
            handle
        })
        .clone()
}
