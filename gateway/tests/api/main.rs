//! HTTP-level tests: the real router on a real port, against a fresh store of either backend.
//! One binary (link time matters on 2 cores); modules by area.

mod helpers;

mod accounts;
mod alert_reach;
mod alerts;
mod browser;
mod carrier;
mod cli;
mod console;
mod conversation_pages;
mod conversations;
mod edge;
mod email;
mod fake_smtp;
mod fake_twilio;
mod instances;
mod logins;
mod monitoring;
mod notification_settings;
mod oncall;
mod ops;
mod patients;
mod practice_context;
mod readings;
mod refusals;
mod sessions;
mod silence;
mod staff_assignment;
mod texting;
mod webdriver;
mod webhooks;
