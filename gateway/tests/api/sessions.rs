//! Sessions end when they should (issue 12), on both stores: a new password ends the user's
//! other sessions, one's own change needs the current password, and the notification stream
//! closes with its session (logout, lock, password change, idle timeout).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::accounts::{PASSWORD, World, app_with_world};
use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    changing_your_own_password_needs_the_current_one_and_ends_your_other_sessions,
    an_administrators_password_reset_ends_every_session_of_the_user,
    the_notification_stream_closes_at_logout,
    the_notification_stream_closes_when_the_user_is_locked,
    the_notification_stream_closes_when_the_password_changes,
    the_notification_stream_closes_when_the_session_idles_out,
);

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get_as(token, "/v1/me").await.0
}

async fn patch_me(app: &TestApp, w: &World, token: &str, body: serde_json::Value) -> (u16, String) {
    let (status, answer) = app.patch_as(token, &w.staff_a_path(""), body).await;
    (
        status,
        answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

/// staff-a changes their own password (with the current one) from their first session.
async fn change_own_password(app: &TestApp, w: &World) {
    let (status, message) = patch_me(
        app,
        w,
        &w.staff_a,
        json!({"password": "new-pass-22", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
}

async fn changing_your_own_password_needs_the_current_one_and_ends_your_other_sessions(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    let laptop = app.login("staff-a", PASSWORD).await;
    let (status, message) =
        patch_me(&app, &w, &w.staff_a, json!({"password": "new-pass-22"})).await;
    assert_eq!(status, 422);
    assert!(message.starts_with("current_password"), "{message}");
    let (status, message) = patch_me(
        &app,
        &w,
        &w.staff_a,
        json!({"password": "new-pass-22", "current_password": "not-it-1"}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(message.starts_with("current_password"), "{message}");
    assert_eq!(
        me(&app, &laptop).await,
        200,
        "a refused change ends nothing"
    );

    change_own_password(&app, &w).await;
    assert_eq!(
        me(&app, &w.staff_a).await,
        200,
        "the session that changed it stays"
    );
    assert_eq!(me(&app, &laptop).await, 401, "every other session ended");
    app.login("staff-a", "new-pass-22").await;
}

async fn an_administrators_password_reset_ends_every_session_of_the_user(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let laptop = app.login("staff-a", PASSWORD).await;
    let (status, message) =
        patch_me(&app, &w, &w.admin_a, json!({"password": "reset-pass-3"})).await;
    assert_eq!(
        status, 200,
        "an administrator needs no current password: {message}"
    );
    assert_eq!(me(&app, &w.staff_a).await, 401);
    assert_eq!(me(&app, &laptop).await, 401);
    assert_eq!(
        me(&app, &w.admin_a).await,
        200,
        "the administrator's own session stays"
    );
}

/// Opens the caller's notification stream.
async fn open_stream(app: &TestApp, token: &str) -> reqwest::Response {
    let stream = app
        .authed(Method::GET, "/v1/notifications/stream", token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    stream
}

/// Waits (at most 10 s) for the stream to end; panics if it is still open.
async fn ends(mut stream: reqwest::Response) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Ok(Ok(Some(_))) => continue,
            Err(_) => panic!("the notification stream is still open"),
        }
    }
}

/// Asserts the stream stays open for a moment (so that closing later is the trigger's doing).
async fn still_open(stream: &mut reqwest::Response) {
    let next = tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await;
    assert!(
        !matches!(next, Ok(Ok(None))),
        "the stream ended before anything happened"
    );
}

async fn the_notification_stream_closes_at_logout(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let mut stream = open_stream(&app, &w.staff_a).await;
    still_open(&mut stream).await;
    let (status, _) = app.post_empty_as(&w.staff_a, "/v1/auth/logout").await;
    assert_eq!(status, 204);
    ends(stream).await;
}

async fn the_notification_stream_closes_when_the_user_is_locked(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let mut stream = open_stream(&app, &w.staff_a).await;
    still_open(&mut stream).await;
    let (status, body) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/lock"))
        .await;
    assert_eq!(status, 200, "{body}");
    ends(stream).await;
}

async fn the_notification_stream_closes_when_the_password_changes(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let laptop = app.login("staff-a", PASSWORD).await;
    let mut stream = open_stream(&app, &laptop).await;
    still_open(&mut stream).await;
    change_own_password(&app, &w).await;
    ends(stream).await;
}

async fn the_notification_stream_closes_when_the_session_idles_out(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let mut stream = open_stream(&app, &w.staff_a).await;
    // Another request with the same session keeps it alive: the stream stays.
    app.clock.advance(chrono::Duration::minutes(20));
    assert_eq!(me(&app, &w.staff_a).await, 200);
    app.clock.advance(chrono::Duration::minutes(20));
    app.state.notify_feed();
    still_open(&mut stream).await;
    // 30 minutes without use (the default idle timeout): the stream ends with the session.
    app.clock.advance(chrono::Duration::minutes(11));
    app.state.notify_feed();
    ends(stream).await;
}
