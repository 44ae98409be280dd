//! The staff console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) against the real `gateway` binary, seeded by `gateway demo` on a fresh
//! store, with a fake Twilio on loopback as the carrier.
//!
//! A nurse signs in, sees a patient's text arrive live (a signed inbound webhook sent by the
//! test; the page is refreshed by the notification stream, not reloaded), replies, and the
//! carrier receives the reply; then acknowledges a critical alert. An admin visits the admin
//! pages. axe-core (vendored from its npm package under `tests/assets/`) runs on every page and
//! must find no serious or critical violation, and no page may scroll sideways at 360 px.
//!
//! With `CONSOLE_SCREENSHOTS=DIR` set, the inbox and the alerts page are saved there as PNG
//! (the README's screenshots: `CONSOLE_SCREENSHOTS=docs/console cargo nextest run -p gateway
//! --test api browser`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{gateway, serve, terminate};
use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};
use crate::helpers::{Fetch, twilio_form};
use crate::webdriver::Browser;

const AXE: &str = include_str!("../assets/axe-core-4.14.1/axe.min.js");
/// What the gateway believes its public URL is; webhooks are signed for it.
const PUBLIC: &str = "http://gateway.test";
const PAT_MOBILE: &str = "+15555550142";

/// axe-core's serious and critical violations on the page as it is.
async fn serious_violations(browser: &Browser) -> Value {
    let loaded = browser
        .execute("return typeof axe !== 'undefined';", json!([]))
        .await;
    if loaded != Value::Bool(true) {
        browser
            .execute(&format!("{AXE}\nreturn true;"), json!([]))
            .await;
    }
    browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.map(n => n.target.join(' '))}))))
               .catch(e => done([{id: 'axe-error', help: String(e)}]));",
            json!([]),
        )
        .await
}

/// Runs axe-core in the page; panics listing any serious or critical violation.
async fn assert_accessible(browser: &Browser, page: &str) {
    assert_eq!(
        serious_violations(browser).await,
        json!([]),
        "axe-core on the {page} page"
    );
}

/// No horizontal scrolling at 360 px, then back to the desktop size.
async fn assert_fits_a_phone(browser: &Browser, page: &str) {
    browser.emulate_width(360).await;
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        )
        .await;
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= inner,
        "the {page} page is {scroll} px wide at a {inner} px viewport"
    );
    screenshot(browser, &format!("phone-{}.png", page.replace(' ', "-"))).await;
    browser.emulate_width(1280).await;
}

/// Every page a person can reach is checked the same way.
async fn check_page(browser: &Browser, page: &str) {
    let title = browser.title().await;
    assert!(title.ends_with("· Care gateway"), "{page}: {title}");
    for secret in ["Pat", "Example", "5550142"] {
        assert!(!title.contains(secret), "the {page} title shows {secret}");
        assert!(
            !browser.url().await.contains(secret),
            "the {page} URL shows {secret}"
        );
    }
    assert_accessible(browser, page).await;
    assert_fits_a_phone(browser, page).await;
}

async fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("CONSOLE_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        let png = browser.screenshot_png().await;
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

/// Signs in through the form and waits for the inbox.
async fn sign_in(browser: &Browser, username: &str) {
    browser.type_into("#username", username).await;
    browser
        .type_into("#password", gateway::demo::DEMO_PASSWORD)
        .await;
    browser.click("button[type=submit]").await;
    browser
        .wait_until(
            10,
            "the inbox",
            "document.querySelector('h1') && document.querySelector('h1').textContent === 'Inbox'",
        )
        .await;
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn login(&self, username: &str) -> String {
        let answer: Value = self
            .client
            .post(format!("{}/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": gateway::demo::DEMO_PASSWORD}))
            .fetch_json()
            .await;
        answer["token"].as_str().expect("signed in").to_string()
    }

    /// `GET path` as `token` (with a JSON `null` body, as every call here sends one).
    async fn get(&self, path: &str, token: &str) -> Value {
        self.call(reqwest::Method::GET, path, token, Value::Null)
            .await
    }

    /// `POST path` as `token` with a JSON `null` body.
    async fn post_empty(&self, path: &str, token: &str) -> Value {
        self.call(reqwest::Method::POST, path, token, Value::Null)
            .await
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let answer = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    /// An inbound text from the patient, signed as Twilio signs it.
    async fn text_from_patient(&self, sid: u32, body: &str) {
        self.webhook(
            "/webhooks/twilio/sms",
            &[
                ("MessageSid", format!("SM{sid:032x}")),
                ("AccountSid", ACCOUNT_SID.to_string()),
                ("From", PAT_MOBILE.to_string()),
                ("To", gateway::demo::PRACTICE_NUMBER.to_string()),
                ("Body", body.to_string()),
            ],
        )
        .await;
    }

    /// A delivery status callback for the text the carrier knows as `sid`.
    async fn delivery_report(&self, sid: &str, status: &str) {
        self.webhook(
            "/webhooks/twilio/status",
            &[
                ("MessageSid", sid.to_string()),
                ("AccountSid", ACCOUNT_SID.to_string()),
                ("MessageStatus", status.to_string()),
            ],
        )
        .await;
    }

    /// A form posted to a webhook route, signed as Twilio signs it.
    async fn webhook(&self, path: &str, params: &[(&str, String)]) {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let url = format!("{}{path}", self.base);
        let signed = format!("{PUBLIC}{path}");
        let answer = twilio_form(&self.client, &url, &signed, AUTH_TOKEN, &params)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path} accepts the signed form");
    }
}

/// Waits until the fake carrier got a text to `to` whose body contains `text`.
async fn carrier_receives(carrier: &FakeTwilio, to: &str, text: &str) {
    crate::helpers::eventually(20, &format!("the carrier to receive {text:?}"), || async {
        carrier
            .received()
            .iter()
            .any(|r| r.to == to && r.body.contains(text))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_nurse_sees_a_text_arrive_live_replies_and_acknowledges_an_alert_in_a_browser() {
    let carrier = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let carrier_base = carrier.base_url();
    let envs = [
        ("GATEWAY_DATA_DIR", data.as_str()),
        ("PUBLIC_BASE_URL", PUBLIC),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_BASE", carrier_base.as_str()),
        ("SMS_SENDER_MPS", "20"),
        ("RUST_LOG", "warn,gateway=info"),
    ];
    // The first command a new user runs, then the server.
    let demo = gateway(&envs).arg("demo").output().unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(String::from_utf8_lossy(&demo.stdout).contains("/app"));
    let (mut child, address) = serve(&envs);
    let base = format!("http://{address}");
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        base: base.clone(),
    };

    // Arrange through the API: Pat verifies by texting their date of birth; the practice
    // classifies pulse readings.
    let admin = api.login(gateway::demo::ADMIN_USERNAME).await;
    let nurse = api.login(gateway::demo::STAFF_USERNAME).await;
    let found = api.get("/v1/patients?q=Pat", &nurse).await;
    let patient = found["items"][0]["id"].as_str().unwrap().to_string();
    let practice = found["items"][0]["practice_id"]
        .as_str()
        .unwrap()
        .to_string();
    api.post_empty(&format!("/v1/patients/{patient}/texting/start"), &nurse)
        .await;
    api.text_from_patient(1, "04/12/1958").await;
    let texting = api
        .get(&format!("/v1/patients/{patient}/texting"), &nurse)
        .await;
    assert_eq!(texting["status"], "enabled");
    api.call(
        reqwest::Method::PUT,
        &format!("/v1/practices/{practice}/reading-alerts/pulse"),
        &admin,
        json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130},
               "apply_to": "all_patients"}),
    )
    .await;

    let me = api.get("/v1/me", &nurse).await;
    let admin_me = api.get("/v1/me", &admin).await;
    api.call(
        reqwest::Method::PUT,
        &format!("/v1/practices/{practice}/on-call"),
        &admin,
        json!([{"from": "08:00", "to": "20:00", "user_id": me["id"]},
               {"from": "20:00", "to": "08:00", "user_id": admin_me["id"]}]),
    )
    .await;

    let browser = Browser::start().await;
    // Sign in.
    browser.goto(&format!("{base}/app")).await;
    assert!(browser.url().await.ends_with("/app/login"));
    check_page(&browser, "sign-in").await;
    // axe-core really looks: an image without a text alternative is a critical violation.
    browser
        .execute(
            "const img = document.createElement('img'); img.id = 'canary'; img.src = 'data:,';
             document.querySelector('main').appendChild(img); return true;",
            json!([]),
        )
        .await;
    let caught = serious_violations(&browser).await;
    assert!(caught.to_string().contains("image-alt"), "{caught}");
    browser
        .execute(
            "document.getElementById('canary').remove(); return true;",
            json!([]),
        )
        .await;
    sign_in(&browser, gateway::demo::STAFF_USERNAME).await;
    browser
        .wait_until(
            10,
            "Pat in the inbox",
            "document.querySelector('#inbox-list').textContent.includes('Pat Example')",
        )
        .await;
    check_page(&browser, "inbox").await;

    // The conversation; a text from Pat arrives while it is open.
    browser
        .click(&format!("a[href='/app/patients/{patient}']"))
        .await;
    browser
        .wait_until(10, "the conversation", "document.querySelector('#thread') !== null && document.title.startsWith('Conversation')")
        .await;
    assert!(
        browser
            .url()
            .await
            .ends_with(&format!("/app/patients/{patient}"))
    );
    check_page(&browser, "conversation").await;
    browser
        .execute(
            "window.__samePage = true; window.__changes = 0;
             document.body.addEventListener('gw:changed', () => { window.__changes += 1; });
             return true;",
            json!([]),
        )
        .await;
    // Give the event stream a moment to connect before the text arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.text_from_patient(2, "My pulse is racing since this morning")
        .await;
    browser
        .wait_until(
            10,
            "the text to appear in the open conversation",
            "document.querySelector('#thread').textContent.includes('My pulse is racing')",
        )
        .await;
    let live = browser
        .execute(
            "return [window.__samePage === true, window.__changes];",
            json!([]),
        )
        .await;
    assert_eq!(live[0], json!(true), "shown without reloading the page");
    assert!(
        live[1].as_u64().unwrap() >= 1,
        "the notification stream drove the refresh"
    );

    // Reply; the carrier receives it.
    browser
        .type_into("#reply", "Please sit down and take a reading now")
        .await;
    browser
        .click("form[action$='/messages'] button[type=submit]")
        .await;
    carrier_receives(
        &carrier,
        PAT_MOBILE,
        "Please sit down and take a reading now",
    )
    .await;
    browser
        .wait_until(
            10,
            "the sent reply in the thread",
            "document.querySelector('#thread').textContent.includes('Please sit down')",
        )
        .await;
    // The carrier reports the reply delivered; the conversation says so.
    let sid = carrier
        .received()
        .iter()
        .find(|r| r.body.contains("Please sit down"))
        .and_then(|r| r.sid.clone())
        .expect("the carrier answered with a sid");
    api.delivery_report(&sid, "delivered").await;
    browser
        .goto(&format!("{base}/app/patients/{patient}"))
        .await;
    browser
        .wait_until(
            10,
            "the delivery state",
            "document.querySelector('#thread').textContent.includes('Delivery: Delivered')",
        )
        .await;
    screenshot(&browser, "conversation.png").await;
    let texts_to_pat = carrier
        .received()
        .iter()
        .filter(|r| r.body.contains("Please sit down"))
        .count();
    assert_eq!(texts_to_pat, 1, "the reply went out once");

    // A critical reading opens an alert; acknowledge it with one click.
    api.call(
        reqwest::Method::POST,
        "/v1/readings",
        &nurse,
        json!({"patient_id": patient, "vital": "pulse", "value": 180,
               "taken_at": chrono::Utc::now().to_rfc3339()}),
    )
    .await;
    browser.click("a[href='/app/alerts']").await;
    browser
        .wait_until(10, "the open alert", "document.querySelector('#alerts-list') && document.querySelector('#alerts-list').textContent.includes('Pat Example')")
        .await;
    browser
        .wait_until(5, "the on-call users", "document.body.textContent.includes('On call now: Nora Nurse') || document.body.textContent.includes('On call now: Dana Admin')")
        .await;
    check_page(&browser, "alerts").await;
    screenshot(&browser, "alerts.png").await;
    browser.click("#alerts-list form button[type=submit]").await;
    browser
        .wait_until(10, "the acknowledgement", "document.querySelector('.flash') && document.querySelector('.flash').textContent.includes('acknowledged')")
        .await;
    let open = api.get("/v1/alerts?state=open", &nurse).await;
    assert_eq!(open["items"], json!([]), "no alert is open any more");
    let acked = api.get("/v1/alerts?state=acknowledged", &nurse).await;
    assert!(acked["items"][0]["acknowledged_by"].as_str().is_some());

    // In the inbox, a new text from Pat marks the conversation unread as it arrives.
    browser.click("a[href='/app/inbox']").await;
    browser
        .wait_until(
            10,
            "the inbox",
            "document.querySelector('#inbox-list') !== null",
        )
        .await;
    let unread = "document.querySelector('#inbox-list li.unread') !== null";
    assert_eq!(
        browser
            .execute(&format!("return {unread};"), json!([]))
            .await,
        json!(false)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.text_from_patient(3, "Reading taken, feeling better now")
        .await;
    browser.wait_until(10, "the unread mark", unread).await;
    screenshot(&browser, "inbox.png").await;

    // Sign out; an admin looks at the admin pages.
    browser.click("header form button[type=submit]").await;
    browser
        .wait_until(
            10,
            "the sign-in page",
            "document.querySelector('#username') !== null",
        )
        .await;
    sign_in(&browser, gateway::demo::ADMIN_USERNAME).await;
    assert_eq!(
        browser
            .execute(
                "return document.querySelector('a[href=\"/app/admin/users\"]') !== null;",
                json!([])
            )
            .await,
        json!(true),
        "admins see the admin pages in the navigation"
    );
    browser.goto(&format!("{base}/app/admin/users")).await;
    check_page(&browser, "users").await;
    browser
        .goto(&format!("{base}/app/admin/practices/{practice}"))
        .await;
    browser
        .wait_until(
            10,
            "the practice settings",
            "document.querySelector('h1').textContent.startsWith('Settings of')",
        )
        .await;
    check_page(&browser, "practice settings").await;

    browser.quit().await;
    assert!(terminate(&mut child).success());
}
