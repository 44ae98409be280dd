//! The conversation list pages by what the caller may see: conversations of a practice the user
//! no longer works at are left out while a page is filled, so every page but the last is full
//! and the pages together hold each visible conversation once.

use serde_json::json;

use crate::accounts::{PASSWORD, post};
use crate::both_backends;
use crate::helpers::{Backend, items, spawn_app};

both_backends!(pages_are_full_when_conversations_of_a_former_practice_are_left_out);

async fn pages_are_full_when_conversations_of_a_former_practice_are_left_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let customer = post(&app, "/v1/customers", &root, json!({"name": "Acme"})).await;
    let customer = customer["id"].as_str().unwrap();
    let mut practices = Vec::new();
    for (name, number) in [("North", "+14155550111"), ("South", "+14155550112")] {
        let practice = post(
            &app,
            &format!("/v1/customers/{customer}/practices"),
            &root,
            json!({"name": name, "timezone": "America/New_York", "sms_number": number}),
        )
        .await;
        practices.push(practice["id"].as_str().unwrap().to_string());
    }
    let nurse = post(
        &app,
        "/v1/users",
        &root,
        json!({"username": "nurse", "password": PASSWORD, "role": "staff",
               "customer_id": customer, "practice_ids": practices}),
    )
    .await;
    let nurse_id = nurse["id"].as_str().unwrap().to_string();
    let token = app.login("nurse", PASSWORD).await;
    // Patients of the two practices alternate, so those of North sit between those of South
    // whatever the list's order.
    let mut south = Vec::new();
    for i in 0..8 {
        let practice = &practices[i % 2];
        let patient = post(
            &app,
            &format!("/v1/practices/{practice}/patients"),
            &root,
            json!({"first_name": format!("P{i}"), "last_name": "Test", "dob": "1960-01-01"}),
        )
        .await;
        let patient = patient["id"].as_str().unwrap().to_string();
        let care_team = format!("/v1/patients/{patient}/care-team");
        let member = json!({"user_id": nurse_id});
        let (status, body) = app.post_as(&root, &care_team, member).await;
        assert_eq!(status, 204, "{body}");
        if i % 2 == 1 {
            south.push(patient);
        }
    }
    // The nurse moves to South only: North's conversations are no longer theirs to see.
    let (status, body) = app
        .patch_as(
            &root,
            &format!("/v1/users/{nurse_id}"),
            json!({"practice_ids": [practices[1]]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/conversations?limit=3&cursor={c}"),
            None => "/v1/conversations?limit=3".to_string(),
        };
        let (status, page) = app.get_as(&token, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = items(&page);
        sizes.push(items.len());
        seen.extend(
            items
                .iter()
                .map(|i| i["patient_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(sizes.len() < 10, "the cursor must move on");
    }
    assert_eq!(sizes, [3, 1], "full pages until the last");
    let mut expected = south.clone();
    expected.sort();
    seen.sort();
    assert_eq!(
        seen, expected,
        "each conversation of South once, none of North"
    );
}
