//! Patients and practice templates over HTTP on both stores.

use serde_json::{Value, json};

use crate::accounts::app_with_world;
use crate::both_backends;
use crate::helpers::{Backend, error_message, items};

both_backends!(
    a_patient_is_created_with_a_normalised_number_and_read_back,
    bad_patient_fields_get_422_naming_the_field,
    patients_of_other_practices_and_customers_do_not_exist_for_the_caller,
    a_patient_whose_every_program_is_restricted_does_not_exist_for_that_user,
    search_finds_patients_by_name_and_every_read_is_audited,
    templates_list_defaults_and_saving_validates_and_counts_segments,
);

fn new_patient() -> Value {
    json!({"first_name": "Pat", "last_name": "Jones", "dob": "1961-07-04", "mobile_phone": "415 555 0199", "programs": ["rpm"]})
}

async fn a_patient_is_created_with_a_normalised_number_and_read_back(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (status, created) = app
        .post_as(&w.staff_a, &w.practice_a_path("/patients"), new_patient())
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["mobile_phone"], "+14155550199");
    assert_eq!(created["dob"], "1961-07-04");
    assert_eq!(created["texting"]["status"], "not_enabled");
    let id = created["id"].as_str().unwrap();
    let (status, read) = app.get_as(&w.staff_a, &format!("/v1/patients/{id}")).await;
    assert_eq!(status, 200);
    // The read also says how many other patients share the number (none here) and adds the
    // practice's report disclaimers (none saved: empty) to what was created.
    let mut read = read;
    assert_eq!(read["number_shared_with"], 0);
    read.as_object_mut().unwrap().remove("number_shared_with");
    let disclaimers = read.as_object_mut().unwrap().remove("disclaimers").unwrap();
    assert_eq!(disclaimers["care_plan_report"], "");
    assert_eq!(disclaimers["hra_report"], "");
    assert_eq!(read, created);
    let (status, changed) = app
        .patch_as(
            &w.staff_a,
            &format!("/v1/patients/{id}"),
            json!({"last_name": "Smith", "programs": ["ccm"]}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["last_name"], "Smith");
    assert_eq!(changed["first_name"], "Pat");
    assert_eq!(changed["programs"], json!(["ccm"]));
}

async fn bad_patient_fields_get_422_naming_the_field(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let path = w.practice_a_path("/patients");
    for (patch, field) in [
        (json!({"dob": "07/04/1961"}), "dob"),
        (json!({"dob": "2999-01-01"}), "dob"),
        (json!({"mobile_phone": "12345"}), "mobile_phone"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"programs": [""]}), "programs[0]"),
    ] {
        let mut body = new_patient();
        body.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let (status, answer) = app.post_as(&w.staff_a, &path, body).await;
        assert_eq!(status, 422, "{patch}: {answer}");
        assert!(
            error_message(&answer).starts_with(field),
            "{patch}: {answer}"
        );
    }
}

async fn patients_of_other_practices_and_customers_do_not_exist_for_the_caller(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (_, created) = app
        .post_as(&w.staff_a, &w.practice_a_path("/patients"), new_patient())
        .await;
    let path = format!("/v1/patients/{}", created["id"].as_str().unwrap());
    for token in [&w.staff_b, &w.admin_b] {
        assert_eq!(app.get_as(token, &path).await.0, 404);
        assert_eq!(
            app.patch_as(token, &path, json!({"first_name": "X"}))
                .await
                .0,
            404
        );
    }
    assert_eq!(
        app.post_as(&w.staff_b, &w.practice_a_path("/patients"), new_patient())
            .await
            .0,
        404
    );
    assert_eq!(app.get_as(&w.admin_a, &path).await.0, 200);
}

async fn a_patient_whose_every_program_is_restricted_does_not_exist_for_that_user(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    let mut body = new_patient();
    body["programs"] = json!(["behavioral"]);
    let (_, created) = app
        .post_as(&w.admin_a, &w.practice_a_path("/patients"), body)
        .await;
    let path = format!("/v1/patients/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get_as(&w.staff_a, &path).await.0, 200);
    let (status, _) = app
        .patch_as(
            &w.admin_a,
            &w.staff_a_path(""),
            json!({"restricted_programs": ["behavioral"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_as(&w.staff_a, &path).await.0, 404);
    let (_, found) = app.get_as(&w.staff_a, "/v1/patients?q=pat").await;
    assert_eq!(found["items"], json!([]));
    assert_eq!(
        app.get_as(&w.admin_a, &path).await.0,
        200,
        "others still see the patient"
    );
}

async fn search_finds_patients_by_name_and_every_read_is_audited(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let path = w.practice_a_path("/patients");
    for (first, last) in [("Ann", "Smith"), ("Bob", "Smithers"), ("Cy", "Jones")] {
        let body = json!({"first_name": first, "last_name": last, "dob": "1970-01-01"});
        assert_eq!(app.post_as(&w.staff_a, &path, body).await.0, 201);
    }
    let (status, found) = app.get_as(&w.staff_a, "/v1/patients?q=SMITH&limit=1").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"][0]["first_name"], "Ann");
    let cursor = found["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .get_as(
            &w.staff_a,
            &format!("/v1/patients?q=smith&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(next["items"][0]["first_name"], "Bob");
    let (_, none) = app.get_as(&w.staff_b, "/v1/patients?q=smith").await;
    assert_eq!(
        none["items"],
        json!([]),
        "other customers' patients are not found"
    );
    let patient_id = found["items"][0]["id"].as_str().unwrap();
    app.get_as(&w.staff_a, &format!("/v1/patients/{patient_id}"))
        .await;
    let (_, audit) = app
        .get_as(&w.admin_a, &format!("/v1/audit?patient_id={patient_id}"))
        .await;
    let actions: Vec<_> = items(&audit)
        .iter()
        .map(|i| i["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"patient.read".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"patient.search_result".to_string()),
        "{actions:?}"
    );
    let (status, _) = app.get_as(&w.root, "/v1/patients?q=x").await;
    assert_eq!(status, 422, "super admins name the practice");
}

async fn templates_list_defaults_and_saving_validates_and_counts_segments(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let base = w.practice_a_path("/templates");
    let (status, list) = app.get_as(&w.staff_a, &base).await;
    assert_eq!(status, 200);
    let items = items(&list);
    let opt_in = items
        .iter()
        .find(|t| t["name"] == "opt_in_request")
        .unwrap();
    assert!(
        opt_in["text"]
            .as_str()
            .unwrap()
            .starts_with("A member of your care team at {practice_name}")
    );
    assert_eq!(opt_in["is_default"], true);
    assert_eq!(opt_in["encoding"], "gsm7");
    let put = |name: &str, text: &str| {
        let path = format!("{base}/{name}");
        let body = json!({"text": text});
        let (app, token) = (&app, w.admin_a.clone());
        async move { app.put_as(&token, &path, body).await }
    };
    let (status, answer) = put(
        "opt_in_request",
        "Hi from {practice_name}, reply with your birthday {dob}. Reply STOP to opt out.",
    )
    .await;
    assert_eq!(status, 422, "unknown placeholder: {answer}");
    assert!(error_message(&answer).contains("dob"));
    let (status, _) = put(
        "opt_in_request",
        "Hi from {practice_name}, send your date of birth (MM/DD/YYYY).",
    )
    .await;
    assert_eq!(status, 422, "the opt-in request must still mention STOP");
    let (status, saved) = put(
        "opt_in_request",
        "{practice_name}: please text your date of birth (MM/DD/YYYY). Reply STOP to opt out. 🙂",
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["is_default"], false);
    assert_eq!(saved["encoding"], "ucs2", "an emoji forces UCS-2");
    assert!(saved["segments"].as_u64().unwrap() >= 2);
    let (status, _) = app
        .put_as(
            &w.staff_a,
            &format!("{base}/help"),
            json!({"text": "Reply STOP to stop."}),
        )
        .await;
    assert_eq!(status, 403, "staff cannot change templates");
    assert_eq!(put("no_such_template", "x").await.0, 404);
    let (status, reset) = put("opt_in_request", "").await;
    assert_eq!(status, 200);
    assert_eq!(reset["is_default"], true);
    assert_eq!(app.get_as(&w.staff_b, &base).await.0, 404);
}
