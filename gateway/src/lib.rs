//! The SMS-first messaging and alert gateway.
//!
//! A library with a thin binary: [`startup::Application`] builds the whole service from
//! [`settings::Settings`]; [`http::router`] is public so tests can drive handlers directly.
//! `domain` holds the pure rules, `services` load-decide-write in one transaction, `http` the
//! thin API layer, `workers` the timed work (outbox dispatch), `carrier` the Twilio client and
//! the dev transport, `mail` the SMTP client for notification emails, `auth` credentials,
//! `console` the staff console served at `/app`.

pub mod auth;
pub mod carrier;
pub mod cli;
pub mod clock;
pub mod console;
pub mod demo;
pub mod domain;
pub mod http;
pub mod mail;
pub mod services;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod workers;
