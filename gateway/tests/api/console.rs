//! The staff console over plain HTTP (no browser): the session cookie's flags, the CSRF check on
//! every POST, signing out, locking and idling ending a console session, a double-submitted
//! reply sent once, the assets' caching, and no patient data in URLs or page titles.

use chrono::Duration;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use types::{Channel, TextingStatus};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{
    Backend, Fetch, TestApp, acme_practice, fresh_db, new_patient, new_user, spawn_app,
    spawn_app_with, update_patient,
};

pub const NURSE: &str = "nurse.nora";
pub const ADMIN: &str = "admin.ada";
pub const PASSWORD: &str = "console-pass-1";
/// The patient's identifying details, which must never reach a URL or a title.
pub const FIRST: &str = "Quentin";
pub const LAST: &str = "Zebrowski";
pub const MOBILE: &str = "+15555550177";

/// A customer with one practice, a nurse on the care team of one patient (texting enabled,
/// enrolled nowhere else) and a customer admin.
pub struct Clinic {
    #[allow(dead_code)]
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub nurse_id: Uuid,
    pub admin_id: Uuid,
}

pub async fn clinic(app: &TestApp, sms_number: &str) -> Clinic {
    let audit = store::Audit::system(app.state.clock.now());
    let store = &app.store;
    let practice = acme_practice(store.as_ref(), &audit, sms_number).await;
    let hash = gateway::auth::password::Password::parse(PASSWORD)
        .unwrap()
        .hash();
    let mut ids = Vec::new();
    for (username, role, first, mobile) in [
        (NURSE, store::Role::Staff, "Nora", "+14155550181"),
        (ADMIN, store::Role::CustomerAdmin, "Ada", "+14155550182"),
    ] {
        let new = store::NewUser {
            first_name: first.into(),
            title: "RN".into(),
            mobile_phone: Some(mobile.into()),
            ..new_user(
                Some(practice.customer_id),
                username,
                &hash,
                role,
                vec![practice.id],
            )
        };
        let user = store.create_user(&audit, new).await.unwrap();
        ids.push(user.id);
    }
    let mut new = new_patient(practice.id, FIRST, LAST, MOBILE);
    new.dob = chrono::NaiveDate::from_ymd_opt(1950, 2, 3).unwrap();
    let patient = store.create_patient(&audit, new).await.unwrap();
    store
        .add_to_care_team(&audit, patient.id, ids[0])
        .await
        .unwrap();
    update_patient(&app.db, "texting_status = 'enabled'", patient.id).await;
    Clinic {
        practice_id: practice.id,
        patient_id: patient.id,
        nurse_id: ids[0],
        admin_id: ids[1],
    }
}

/// A client that does not follow redirects, so each answer can be looked at.
pub fn browserless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of cookie `name` set by `response`, and its whole `Set-Cookie` line.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let value = line[name.len() + 1..]
                .split(';')
                .next()
                .unwrap()
                .to_string();
            (value, line.to_string())
        })
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_field(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("the page has a CSRF field");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// A signed-in console session: its cookie and the CSRF token of its forms.
pub struct Console {
    pub client: reqwest::Client,
    pub base: String,
    pub session: String,
    pub csrf: String,
    /// The whole `Set-Cookie` line of the session cookie.
    pub cookie_line: String,
}

impl Console {
    pub async fn sign_in(app: &TestApp, username: &str) -> Console {
        let client = browserless();
        let base = app.url("");
        let form = client
            .get(format!("{base}/app/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 200);
        let (login_csrf, _) = set_cookie(&form, "gw_login_csrf").expect("a login CSRF cookie");
        let html = form.text().await.unwrap();
        assert_eq!(csrf_field(&html), login_csrf);
        let answer = client
            .post(format!("{base}/app/login"))
            .header(COOKIE, format!("gw_login_csrf={login_csrf}"))
            .form(&[
                ("username", username),
                ("password", PASSWORD),
                ("csrf", &login_csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303, "sign-in redirects");
        assert_eq!(answer.headers()[LOCATION], "/app/inbox");
        let (session, cookie_line) = set_cookie(&answer, "gw_session").expect("a session cookie");
        let mut console = Console {
            client,
            base,
            session,
            csrf: String::new(),
            cookie_line,
        };
        let inbox = console.get("/app/inbox").await;
        assert_eq!(inbox.status(), 200);
        console.csrf = csrf_field(&inbox.text().await.unwrap());
        console
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("gw_session={}", self.session))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &self.csrf));
        self.post_raw(path, &fields).await
    }

    /// POSTs exactly `fields`.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("gw_session={}", self.session))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

async fn messages_of(app: &TestApp, patient_id: Uuid) -> Vec<store::Message> {
    app.store
        .list_messages(
            &store::Audit::system(app.state.clock.now()),
            patient_id,
            None,
            50,
        )
        .await
        .unwrap()
        .items
}

async fn the_session_cookie_is_http_only_strict_and_scoped_to_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    clinic(&app, "+15555550101").await;
    let console = Console::sign_in(&app, NURSE).await;
    let line = console.cookie_line.to_ascii_lowercase();
    assert!(line.contains("httponly"), "{line}");
    assert!(line.contains("samesite=strict"), "{line}");
    assert!(line.contains("path=/app"), "{line}");
    // PUBLIC_BASE_URL is http in this app: the cookie must still work over http.
    assert!(!line.contains("secure"), "{line}");
    // The cookie's token is an API session like any other.
    let (status, me) = app.get_as(&console.session, "/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], NURSE);
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let db = fresh_db(Backend::Sqlite).await;
    let url = db.url();
    let app = spawn_app_with(
        db,
        |s| s.public_base_url = "https://gateway.example.org".parse().unwrap(),
        url,
    )
    .await;
    clinic(&app, "+15555550102").await;
    let console = Console::sign_in(&app, NURSE).await;
    assert!(
        console.cookie_line.contains("; Secure"),
        "{}",
        console.cookie_line
    );
    let form = browserless()
        .get(app.url("/app/login"))
        .send()
        .await
        .unwrap();
    let (_, line) = set_cookie(&form, "gw_login_csrf").unwrap();
    assert!(
        line.contains("; Secure") && line.contains("HttpOnly"),
        "{line}"
    );
}

async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550103").await;
    let console = Console::sign_in(&app, NURSE).await;
    let path = format!("/app/patients/{}/messages", clinic.patient_id);
    let missing = console
        .post_raw(&path, &[("body", "hello"), ("idempotency_key", "k1")])
        .await;
    assert_eq!(missing.status(), 403);
    let wrong = console
        .post_raw(
            &path,
            &[
                ("body", "hello"),
                ("idempotency_key", "k2"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    // Another session's token does not fit this one.
    let other = Console::sign_in(&app, ADMIN).await;
    let borrowed = console
        .post_raw(
            &path,
            &[
                ("body", "hello"),
                ("idempotency_key", "k3"),
                ("csrf", &other.csrf),
            ],
        )
        .await;
    assert_eq!(borrowed.status(), 403);
    assert!(messages_of(&app, clinic.patient_id).await.is_empty());
    // Signing out without the token is refused too: the session lives on.
    let logout = console.post_raw("/app/logout", &[]).await;
    assert_eq!(logout.status(), 403);
    assert_eq!(console.get("/app/inbox").await.status(), 200);
    // And the sign-in form needs its double-submit cookie.
    let login = browserless()
        .post(app.url("/app/login"))
        .form(&[
            ("username", NURSE),
            ("password", PASSWORD),
            ("csrf", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    // With the token the same reply goes out.
    let sent = console
        .post(&path, &[("body", "hello"), ("idempotency_key", "k4")])
        .await;
    assert_eq!(sent.status(), 303);
    assert_eq!(messages_of(&app, clinic.patient_id).await.len(), 1);
}

async fn a_reply_submitted_twice_with_one_key_is_sent_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550104").await;
    let console = Console::sign_in(&app, NURSE).await;
    let path = format!("/app/patients/{}/messages", clinic.patient_id);
    let key = Uuid::new_v4().to_string();
    let fields = [("body", "See you at 3"), ("idempotency_key", key.as_str())];
    let (first, second) = tokio::join!(console.post(&path, &fields), console.post(&path, &fields));
    assert_eq!(first.status(), 303);
    assert_eq!(second.status(), 303);
    let messages = messages_of(&app, clinic.patient_id).await;
    assert_eq!(messages.len(), 1, "one message for one key");
    assert_eq!(messages[0].channel, Channel::Sms);
    assert_eq!(messages[0].author_user_id, Some(clinic.nurse_id));
    let outbox = app.store.list_outbox(store::Page::first(10)).await.unwrap();
    assert_eq!(outbox.items.len(), 1, "one text queued");
}

async fn signing_out_ends_the_session_for_the_console_and_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    clinic(&app, "+15555550105").await;
    let console = Console::sign_in(&app, NURSE).await;
    let out = console.post("/app/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/app/login");
    let (_, cleared) = set_cookie(&out, "gw_session").expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = console.get("/app/inbox").await;
    assert_eq!(after.status(), 303);
    assert_eq!(location(&after), "/app/login");
    let (status, _) = app.get_as(&console.session, "/v1/me").await;
    assert_eq!(status, 401);
}

async fn locking_a_user_ends_their_console_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550106").await;
    let nurse = Console::sign_in(&app, NURSE).await;
    let admin = Console::sign_in(&app, ADMIN).await;
    // The nurse is on a care team: the lock needs someone to take that over.
    let refused = admin
        .post(
            &format!("/app/admin/users/{}/lock", clinic.nurse_id),
            &[("reassign_to", "")],
        )
        .await;
    assert_eq!(refused.status(), 303);
    let (flash, _) = set_cookie(&refused, "gw_flash").expect("the refusal is carried over");
    let page = admin
        .client
        .get(format!("{}/app/admin/users", admin.base))
        .header(
            COOKIE,
            format!("gw_session={}; gw_flash={flash}", admin.session),
        )
        .fetch_text()
        .await;
    assert!(
        page.contains("Not locked: this user has 1 outstanding item(s)"),
        "the refusal is shown"
    );
    assert_eq!(nurse.get("/app/inbox").await.status(), 200);
    let locked = admin
        .post(
            &format!("/app/admin/users/{}/lock", clinic.nurse_id),
            &[("reassign_to", &clinic.admin_id.to_string())],
        )
        .await;
    assert_eq!(locked.status(), 303);
    let after = nurse.get("/app/inbox").await;
    assert_eq!(after.status(), 303);
    assert_eq!(location(&after), "/app/login");
    // htmx requests are sent to the sign-in page the htmx way.
    let fragment = nurse
        .client
        .get(format!("{}/app/inbox/list", nurse.base))
        .header(COOKIE, format!("gw_session={}", nurse.session))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.headers()["hx-redirect"], "/app/login");
    // The care team passed to the admin, and the nurse cannot sign in again.
    let team = app.store.care_team(clinic.patient_id).await.unwrap();
    assert!(team.iter().any(|m| m.user_id == clinic.admin_id));
    let form = browserless()
        .get(app.url("/app/login"))
        .send()
        .await
        .unwrap();
    let (login_csrf, _) = set_cookie(&form, "gw_login_csrf").unwrap();
    let again = browserless()
        .post(app.url("/app/login"))
        .header(COOKIE, format!("gw_login_csrf={login_csrf}"))
        .form(&[
            ("username", NURSE),
            ("password", PASSWORD),
            ("csrf", &login_csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&again), "/app/login");
    assert!(set_cookie(&again, "gw_session").is_none());
    // Unlocking from the console lets them back in.
    let unlocked = admin
        .post(&format!("/app/admin/users/{}/unlock", clinic.nurse_id), &[])
        .await;
    assert_eq!(unlocked.status(), 303);
    Console::sign_in(&app, NURSE).await;
}

#[tokio::test]
async fn a_console_session_idles_out_after_the_users_timeout() {
    let app = spawn_app(Backend::Sqlite).await;
    clinic(&app, "+15555550107").await;
    let console = Console::sign_in(&app, NURSE).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        console.get("/app/inbox").await.status(),
        200,
        "used within the timeout"
    );
    app.clock.advance(Duration::minutes(31));
    let after = console.get("/app/inbox").await;
    assert_eq!(after.status(), 303);
    assert_eq!(location(&after), "/app/login");
}

/// Every `href`, `action` and `hx-get` value of a page, and its title.
fn urls_and_title(html: &str) -> (Vec<String>, String) {
    let mut urls = Vec::new();
    for attribute in ["href=\"", "action=\"", "hx-get=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            urls.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    let title = html
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default()
        .to_string();
    (urls, title)
}

fn assert_no_phi(what: &str, text: &str) {
    for secret in [FIRST, LAST, MOBILE, "1950-02-03", "02/03/1950", "5550177"] {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "{what} shows {secret}: {text}"
        );
    }
}

async fn no_patient_data_reaches_a_url_or_a_title(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550108").await;
    let console = Console::sign_in(&app, NURSE).await;
    let mut pages = Vec::new();
    for path in [
        "/app/inbox".to_string(),
        format!("/app/patients/{}", clinic.patient_id),
        "/app/alerts".to_string(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status(), 200, "{path}");
        pages.push((path, page.text().await.unwrap()));
    }
    // The patient's name is on their pages (in the body), so the check below is not vacuous.
    assert!(pages[0].1.contains(LAST) && pages[1].1.contains(LAST));
    let search = console.post("/app/search", &[("q", &LAST[..4])]).await;
    assert_eq!(search.status(), 200, "results come back without a redirect");
    let results = search.text().await.unwrap();
    assert!(results.contains(LAST), "the patient is found");
    pages.push(("search".into(), results));
    let sent = console
        .post(
            &format!("/app/patients/{}/messages", clinic.patient_id),
            &[
                ("body", "Your results are in"),
                ("idempotency_key", "phi-check"),
            ],
        )
        .await;
    assert_no_phi("a redirect", &location(&sent));
    for (path, html) in &pages {
        let (urls, title) = urls_and_title(html);
        assert!(!urls.is_empty(), "{path} has links");
        for url in urls {
            assert_no_phi(&format!("a URL on {path}"), &url);
        }
        assert!(!title.is_empty(), "{path} has a title");
        assert_no_phi(&format!("the title of {path}"), &title);
    }
    // Pages holding patient data are not kept by caches.
    let page = console
        .get(&format!("/app/patients/{}", clinic.patient_id))
        .await;
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn assets_are_cached_for_a_year_under_versioned_names() {
    let app = spawn_app(Backend::Sqlite).await;
    let login = browserless()
        .get(app.url("/app/login"))
        .send()
        .await
        .unwrap();
    let html = login.text().await.unwrap();
    let (urls, _) = urls_and_title(&html);
    let scripts: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert!(
        scripts.contains(&"/app/assets/htmx-2.0.11.min.js"),
        "{scripts:?}"
    );
    let css = urls
        .iter()
        .find(|u| u.ends_with(".css"))
        .expect("a stylesheet");
    for asset in scripts.iter().copied().chain([css.as_str()]) {
        let answer = browserless().get(app.url(asset)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        assert_eq!(
            answer.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
    }
    let unknown = browserless()
        .get(app.url("/app/assets/evil.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Not signed in: every page leads to the sign-in form.
    let inbox = browserless()
        .get(app.url("/app/inbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&inbox), "/app/login");
}

both_backends!(
    the_session_cookie_is_http_only_strict_and_scoped_to_the_console,
    a_post_without_the_right_csrf_token_is_refused_and_changes_nothing,
    a_reply_submitted_twice_with_one_key_is_sent_once,
    signing_out_ends_the_session_for_the_console_and_the_api,
    locking_a_user_ends_their_console_session_at_once,
    no_patient_data_reaches_a_url_or_a_title,
    an_admin_manages_users_and_practice_settings_from_the_console,
    staff_get_no_admin_pages_and_change_nothing_there,
    texting_actions_and_alert_acknowledgement_use_the_apis_rules,
);

/// The flash message a redirect carries, decoded.
fn flash_of(response: &reqwest::Response) -> String {
    let (value, _) = set_cookie(response, "gw_flash").expect("a flash message");
    url::form_urlencoded::parse(format!("f={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn an_admin_manages_users_and_practice_settings_from_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550109").await;
    let admin = Console::sign_in(&app, ADMIN).await;
    let practice = clinic.practice_id.to_string();

    // A user, created with the API's rules: a bad password is refused and nothing is created.
    let weak = admin
        .post(
            "/app/admin/users",
            &[
                ("username", "new.nurse"),
                ("password", "short"),
                ("role", "staff"),
            ],
        )
        .await;
    assert!(
        flash_of(&weak).starts_with("error:password"),
        "{}",
        flash_of(&weak)
    );
    assert!(app.store.find_user_by_username("new.nurse").await.is_err());
    let created = admin
        .post(
            "/app/admin/users",
            &[
                ("username", "new.nurse"),
                ("password", PASSWORD),
                ("first_name", "Nia"),
                ("role", "staff"),
                ("practice_ids", &practice),
                ("mobile_phone", "(415) 555-0199"),
            ],
        )
        .await;
    assert_eq!(flash_of(&created), "ok:User new.nurse created.");
    let new_nurse = app.store.find_user_by_username("new.nurse").await.unwrap();
    assert_eq!(new_nurse.practice_ids, vec![clinic.practice_id]);
    assert_eq!(new_nurse.mobile_phone.as_deref(), Some("+14155550199"));
    Console::sign_in(&app, "new.nurse").await;

    // On-call windows replace the schedule; an unparsable time is refused naming the window.
    let settings = format!("/app/admin/practices/{practice}");
    let nurse_id = clinic.nurse_id.to_string();
    let bad = admin
        .post(
            &format!("{settings}/on-call"),
            &[("from", "25:00"), ("to", "08:00"), ("user_id", &nurse_id)],
        )
        .await;
    assert!(
        flash_of(&bad).starts_with("error:[0].from"),
        "{}",
        flash_of(&bad)
    );
    let saved = admin
        .post(
            &format!("{settings}/on-call"),
            &[
                ("from", "18:00"),
                ("to", "08:00"),
                ("user_id", &nurse_id),
                ("from", ""),
                ("to", ""),
                ("user_id", ""),
            ],
        )
        .await;
    assert_eq!(flash_of(&saved), "ok:1 on-call window(s) saved.");
    let windows = app.store.on_call_windows(clinic.practice_id).await.unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(
        (windows[0].from_minute, windows[0].to_minute),
        (18 * 60, 8 * 60)
    );

    // Reading alerts of a vital, checked by the domain's rules.
    let disorder = admin
        .post(
            &format!("{settings}/reading-alerts"),
            &[
                ("vital", "spo2"),
                ("critical_low", "95"),
                ("normal_low", "90"),
                ("normal_high", "100"),
                ("critical_high", "100"),
                ("apply_to", "new_patients"),
            ],
        )
        .await;
    assert!(
        flash_of(&disorder).starts_with("error:"),
        "{}",
        flash_of(&disorder)
    );
    let alert = admin
        .post(
            &format!("{settings}/reading-alerts"),
            &[
                ("vital", "spo2"),
                ("critical_low", "88"),
                ("normal_low", "92"),
                ("normal_high", "100"),
                ("critical_high", "100"),
                ("change_amount", "5"),
                ("change_unit", "units"),
                ("change_within_hours", "12"),
                ("apply_to", "all_patients"),
            ],
        )
        .await;
    assert_eq!(flash_of(&alert), "ok:Reading alerts of SpO2 saved.");
    let row = app
        .store
        .practice_reading_alert(clinic.practice_id, "spo2")
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(row.ranges.critical_low, 88.0);
    let page = admin
        .get(&format!("{settings}?vital=spo2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"name="critical_low" value="88""#),
        "the form shows what was saved"
    );

    // Notification defaults: a channel without the notification on is refused.
    let refused = admin
        .post(
            &format!("{settings}/notification-defaults/users"),
            &[("overdue_readings.text", "on"), ("apply_to", "new_users")],
        )
        .await;
    assert!(
        flash_of(&refused).starts_with("error:"),
        "{}",
        flash_of(&refused)
    );
    let users = admin
        .post(
            &format!("{settings}/notification-defaults/users"),
            &[
                ("new_patient_message.enabled", "on"),
                ("new_patient_message.push", "on"),
                ("new_patient_message.text", "on"),
                ("apply_to", "all_users"),
            ],
        )
        .await;
    assert_eq!(
        flash_of(&users),
        "ok:Notification defaults for users saved."
    );
    let nurse_settings = gateway::services::notification_settings::user_settings(
        app.store.as_ref(),
        clinic.nurse_id,
        clinic.practice_id,
    )
    .await
    .unwrap();
    let kind = gateway::domain::notifications::NotificationKind::NewPatientMessage;
    assert!(nurse_settings.get(kind).text, "applied to all users");
    assert!(
        !nurse_settings
            .get(gateway::domain::notifications::NotificationKind::ReadingCritical)
            .enabled
    );
    let patients = admin
        .post(
            &format!("{settings}/notification-defaults/patients"),
            &[
                ("reading_critical.enabled", "on"),
                ("reading_critical.text", "on"),
            ],
        )
        .await;
    assert_eq!(
        flash_of(&patients),
        "ok:Notification defaults for new patients saved."
    );
    let defaults = gateway::services::notification_settings::practice_patient_defaults(
        app.store.as_ref(),
        clinic.practice_id,
    )
    .await
    .unwrap();
    assert!(
        defaults
            .get(gateway::domain::notifications::PatientNotificationKind::ReadingCritical)
            .text
    );
}

async fn staff_get_no_admin_pages_and_change_nothing_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550110").await;
    let nurse = Console::sign_in(&app, NURSE).await;
    let inbox = nurse.get("/app/inbox").await.text().await.unwrap();
    assert!(!inbox.contains("/app/admin/"), "no admin links for staff");
    assert_eq!(nurse.get("/app/admin/users").await.status(), 403);
    let settings = format!("/app/admin/practices/{}", clinic.practice_id);
    assert_eq!(nurse.get(&settings).await.status(), 403);
    let refused = nurse
        .post(
            &format!("{settings}/on-call"),
            &[
                ("from", "00:00"),
                ("to", "00:00"),
                ("user_id", &clinic.nurse_id.to_string()),
            ],
        )
        .await;
    assert!(
        flash_of(&refused).starts_with("error:"),
        "{}",
        flash_of(&refused)
    );
    assert!(
        app.store
            .on_call_windows(clinic.practice_id)
            .await
            .unwrap()
            .is_empty()
    );
    let created = nurse
        .post(
            "/app/admin/users",
            &[
                ("username", "sneaky"),
                ("password", PASSWORD),
                ("role", "staff"),
            ],
        )
        .await;
    assert!(
        flash_of(&created).starts_with("error:only administrators"),
        "{}",
        flash_of(&created)
    );
    assert!(app.store.find_user_by_username("sneaky").await.is_err());
    // A malformed id is a missing page, not an error.
    assert_eq!(nurse.get("/app/patients/not-an-id").await.status(), 404);
}

async fn texting_actions_and_alert_acknowledgement_use_the_apis_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = clinic(&app, "+15555550111").await;
    let nurse = Console::sign_in(&app, NURSE).await;
    let texting = format!("/app/patients/{}/texting", clinic.patient_id);
    // Enabled: starting again is refused by the opt-in rules, and the page offers no Start.
    let page = nurse
        .get(&format!("/app/patients/{}", clinic.patient_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(&format!("{texting}/start")) && page.contains(&format!("{texting}/opt-out"))
    );
    let start = nurse.post(&format!("{texting}/start"), &[]).await;
    assert!(
        flash_of(&start).starts_with("error:"),
        "{}",
        flash_of(&start)
    );
    let out = nurse.post(&format!("{texting}/opt-out"), &[]).await;
    assert_eq!(flash_of(&out), "ok:The patient is opted out of texting.");
    assert_eq!(
        crate::helpers::texting_status(&app, clinic.patient_id).await,
        TextingStatus::OptedOut
    );
    let again = nurse.post(&format!("{texting}/start"), &[]).await;
    assert!(
        flash_of(&again).starts_with("ok:Texting started"),
        "{}",
        flash_of(&again)
    );
    assert_eq!(
        crate::helpers::texting_status(&app, clinic.patient_id).await,
        TextingStatus::Pending
    );
    let resend = nurse.post(&format!("{texting}/resend"), &[]).await;
    assert_eq!(flash_of(&resend), "ok:The opt-in text was sent again.");
    // An alert of another practice's patient does not exist for this nurse.
    let missing = nurse
        .post(&format!("/app/alerts/{}/ack", Uuid::now_v7()), &[])
        .await;
    assert_eq!(flash_of(&missing), "error:Not found, or not yours to see.");
}
