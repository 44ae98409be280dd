//! The pure rules of the product: no I/O, no async, no clock (time is an argument). Functions
//! take the current state, an event and `now`, and return the new state and the effects. Most
//! of the product's tests live here and need no database.

pub mod access;
pub mod acknowledge;
pub mod bounds;
pub mod dob;
pub mod escalation;
#[cfg(test)]
pub mod fixtures;
pub mod keywords;
pub mod notifications;
pub mod oncall;
pub mod patient_notices;
pub mod reachability;
pub mod reading_follow_ups;
pub mod readings;
pub mod shared_number;
pub mod texting;
pub mod throttle;
pub mod units;
