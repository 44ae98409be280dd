//! Login throttling without lock-out (issue 12), on both stores: failures are limited per
//! (username, client address) pair; a username failing from many addresses is delayed, never
//! refused; a locked user gets 423 without the password being checked.

use std::net::IpAddr;

use gateway::clock::Clock;
use serde_json::json;

use crate::accounts::{PASSWORD, app_with_world};
use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};

both_backends!(
    a_right_password_from_another_address_logs_in_while_one_address_is_throttled,
    failures_from_many_addresses_delay_the_username_but_never_lock_it_out,
    a_locked_user_gets_423_whatever_the_password,
);

/// A client whose connections come from `address` (any 127.0.0.0/8 address is local).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login(app: &TestApp, client: &reqwest::Client, username: &str, password: &str) -> u16 {
    client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_right_password_from_another_address_logs_in_while_one_address_is_throttled(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    let guesser = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(login(&app, &guesser, "root", "wrong-pass-1").await, 401);
    }
    assert_eq!(login(&app, &guesser, "root", "wrong-pass-1").await, 429);
    assert_eq!(
        login(&app, &guesser, "root", PASSWORD).await,
        429,
        "the throttled address learns nothing, even with the right password"
    );
    let owner = client_from("127.0.0.3");
    assert_eq!(login(&app, &owner, "root", PASSWORD).await, 200);
    // The guesser's other usernames are not held back by this pair.
    app.super_admin("other", PASSWORD).await;
    assert_eq!(login(&app, &guesser, "other", PASSWORD).await, 200);
}

async fn failures_from_many_addresses_delay_the_username_but_never_lock_it_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    // Ten failures from three addresses (under each pair's limit of five).
    for (address, failures) in [("127.0.0.2", 4), ("127.0.0.3", 4), ("127.0.0.4", 2)] {
        let client = client_from(address);
        for _ in 0..failures {
            assert_eq!(login(&app, &client, "root", "wrong-pass-1").await, 401);
        }
    }
    // The next login of that username waits for its slot (ten seconds of the gateway's clock,
    // which the test clock shows at once) and then succeeds.
    let before = app.clock.now();
    let owner = client_from("127.0.0.5");
    assert_eq!(login(&app, &owner, "root", PASSWORD).await, 200);
    assert_eq!(app.clock.now() - before, chrono::Duration::seconds(10));
    // That slot is taken; a further failure fills the next one, and whatever comes after it
    // waits again (one per ten seconds), answered as usual, never refused.
    assert_eq!(login(&app, &owner, "root", "wrong-pass-1").await, 401);
    let before = app.clock.now();
    assert_eq!(login(&app, &owner, "root", "wrong-pass-1").await, 401);
    assert_eq!(app.clock.now() - before, chrono::Duration::seconds(10));
    // Other usernames are not delayed.
    app.super_admin("other", PASSWORD).await;
    let before = app.clock.now();
    assert_eq!(login(&app, &owner, "other", PASSWORD).await, 200);
    assert_eq!(app.clock.now(), before);
}

async fn a_locked_user_gets_423_whatever_the_password(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (status, _) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/lock"))
        .await;
    assert_eq!(status, 200);
    let client = reqwest::Client::new();
    for password in [PASSWORD, "wrong-pass-1", "x"] {
        assert_eq!(
            login(&app, &client, "staff-a", password).await,
            423,
            "the answer must not confirm a guessed password"
        );
    }
}
