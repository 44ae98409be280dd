//! The SMS-first messaging and alert gateway.
//!
//! A library with a thin binary: [`startup::Application`] builds the whole service from
//! [`settings::Settings`]; [`http::router`] is public so tests can drive handlers directly.
//! Layers, from the outside in: `http` (the JSON API, the carrier webhooks and the staff console
//! at `/app`: parse, authorise, call one service, map the answer) and `workers` (timed work:
//! outbox dispatch, escalation) call `services` (the use cases: load what a decision needs,
//! decide in `domain`, write in one store transaction) with the application context of `app`;
//! `domain` holds the pure rules; `carrier` the Twilio client and the dev transport, `mail` the
//! SMTP client, `auth` credentials. Nothing below `http` imports it.

pub mod app;
pub mod auth;
pub mod carrier;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod http;
pub mod mail;
pub mod services;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod workers;
