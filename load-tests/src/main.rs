//! The load generator (to come with the features it exercises): scenarios that drive a gateway
//! on a loopback address through its webhooks and API, latency histograms per step, and a
//! no-loss check after each run that every accepted message was recorded and sent exactly once.
//! It must only ever target loopback addresses.

fn main() {
    eprintln!("no load scenarios yet: they arrive with the outbox and readings features");
    std::process::exit(2);
}
