//! HTTP-level tests: the real router on a real port, against a fresh store of either backend.
//! One binary (link time matters on 2 cores); modules by area.

mod helpers;

mod accounts;
mod alerts;
mod carrier;
mod cli;
mod conversations;
mod edge;
mod email;
mod fake_smtp;
mod fake_twilio;
mod logins;
mod notification_settings;
mod ops;
mod patients;
mod readings;
mod refusals;
mod sessions;
mod silence;
mod texting;
mod webhooks;
