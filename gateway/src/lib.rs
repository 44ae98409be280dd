//! The SMS-first messaging and alert gateway.
//!
//! A library with a thin binary: [`startup::Application`] builds the whole service from
//! [`settings::Settings`]; [`http::router`] is public so tests can drive handlers directly.
//! `domain` holds the pure rules, `http` the thin API layer, `auth` credentials.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod http;
pub mod services;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod workers;
