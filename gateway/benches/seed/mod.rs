//! What both benchmarks write through the store before they seed in bulk with SQL: a customer
//! with one practice, and its staff users.

use store::{Audit, NewCustomer, NewPractice, NewUser, Practice, Role, Store};
use uuid::Uuid;

/// A customer named `name` and its practice of the same name, in UTC, on `sms_number`.
pub async fn practice(store: &dyn Store, audit: &Audit, name: &str, sms_number: &str) -> Practice {
    let customer = NewCustomer { name: name.into() };
    let customer = store.create_customer(audit, customer).await.unwrap();
    let practice = NewPractice {
        customer_id: customer.id,
        name: name.into(),
        timezone: chrono_tz::UTC.into(),
        sms_number: sms_number.into(),
        practice_group_id: None,
    };
    store.create_practice(audit, practice).await.unwrap()
}

/// A staff user of the practice with no name, title or mobile, logged out after 30 idle minutes.
pub fn staff(
    practice: &Practice,
    username: String,
    email: String,
    password_hash: String,
) -> NewUser {
    NewUser {
        customer_id: Some(practice.customer_id),
        username,
        password_hash,
        role: Role::Staff,
        email,
        first_name: String::new(),
        last_name: String::new(),
        title: String::new(),
        mobile_phone: None,
        auto_logout_minutes: 30,
        practice_ids: vec![practice.id],
        restricted_programs: vec![],
        supervisor_id: None,
    }
}

/// The id of a user created from `new`.
pub async fn create_user(store: &dyn Store, audit: &Audit, new: NewUser) -> Uuid {
    store.create_user(audit, new).await.unwrap().id
}

/// A direct connection to the benchmark's database, for seeding in bulk with SQL.
pub async fn sql_client(url: &str) -> tokio_postgres::Client {
    let connected = tokio_postgres::connect(url, tokio_postgres::NoTls).await;
    let (client, connection) = connected.expect("PostgreSQL answers on 127.0.0.1:5432");
    tokio::spawn(connection);
    client
}
