//! Services: load state from the store, ask the domain what to do, and write the outcome in one
//! store call (which writes its audit row in the same transaction). They know neither HTTP nor
//! SQL.

pub mod notification_settings;
