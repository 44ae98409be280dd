//! Fault tests against the real `gateway` binary (`CARGO_BIN_EXE_gateway`), each on a fresh
//! database and bounded to a minute: `kill -9` under inbound load and mid-drain, the store cut
//! off (PostgreSQL) or locked (SQLite), a carrier outage, two processes on one database, and
//! arbitrary bytes into every parser. One binary, so that they link once.

// Shared with the `api` tests; not every answer of the fake is used here.
#[allow(dead_code)]
#[path = "../api/fake_twilio.rs"]
mod fake_twilio;
#[path = "../api/helpers.rs"]
mod helpers;

mod fixtures;
mod load;
mod process;

mod carrier_outage;
mod kill;
mod parsers;
mod store_outage;
mod two_processes;
