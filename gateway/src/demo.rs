//! `gateway demo`: seeds a demo customer, practice, users and patients so a new developer can
//! try the API at once. Running it twice changes nothing the second time.

use chrono::{DateTime, NaiveDate, Utc};
use store::{Audit, NewCustomer, NewPatient, NewPractice, NewUser, Role, Store, StoreError};

use crate::auth::password::Password;
use crate::settings::Settings;

pub const ADMIN_USERNAME: &str = "demo-admin";
pub const STAFF_USERNAME: &str = "demo-nurse";
/// Demo accounts only: printed on purpose so the walk-through can be followed.
pub const DEMO_PASSWORD: &str = "demo-password-1";
pub const PRACTICE_NUMBER: &str = "+15555550100";

pub struct DemoReport {
    pub already_seeded: bool,
    pub customer_id: Option<uuid::Uuid>,
    pub practice_id: Option<uuid::Uuid>,
}

pub async fn seed(store: &dyn Store, now: DateTime<Utc>) -> anyhow::Result<DemoReport> {
    match store.find_user_by_username(ADMIN_USERNAME).await {
        Ok(_) => {
            return Ok(DemoReport {
                already_seeded: true,
                customer_id: None,
                practice_id: None,
            });
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let audit = Audit::system(now);
    let customer = store
        .create_customer(
            &audit,
            NewCustomer {
                name: "Demo Health".into(),
            },
        )
        .await?;
    let practice = store
        .create_practice(
            &audit,
            NewPractice {
                customer_id: customer.id,
                name: "Demo Family Clinic".into(),
                timezone: chrono_tz::America::New_York.into(),
                sms_number: PRACTICE_NUMBER.into(),
                practice_group_id: None,
            },
        )
        .await?;
    let hash = Password::parse(DEMO_PASSWORD)
        .map_err(anyhow::Error::msg)?
        .hash();
    let mut nurse_id = None;
    for (username, role, first, last, title, mobile) in [
        (
            ADMIN_USERNAME,
            Role::CustomerAdmin,
            "Dana",
            "Admin",
            "Practice manager",
            "+15555550191",
        ),
        (
            STAFF_USERNAME,
            Role::Staff,
            "Nora",
            "Nurse",
            "RN",
            "+15555550190",
        ),
    ] {
        let user = store
            .create_user(
                &audit,
                NewUser {
                    customer_id: Some(customer.id),
                    username: username.into(),
                    password_hash: hash.clone(),
                    role,
                    email: format!("{username}@example.org"),
                    first_name: first.into(),
                    last_name: last.into(),
                    title: title.into(),
                    // Staff who may be put on call need a number alerts can be texted to.
                    mobile_phone: Some(mobile.into()),
                    auto_logout_minutes: 30,
                    practice_ids: vec![practice.id],
                    restricted_programs: Vec::new(),
                    supervisor_id: None,
                },
            )
            .await?;
        if username == STAFF_USERNAME {
            nurse_id = Some(user.id);
        }
    }
    for (first, last, dob, phone) in [
        ("Pat", "Example", (1958, 4, 12), "+15555550142"),
        ("Robin", "Sample", (1971, 11, 3), "+15555550143"),
    ] {
        store
            .create_patient(
                &audit,
                NewPatient {
                    practice_id: practice.id,
                    first_name: first.into(),
                    last_name: last.into(),
                    dob: NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).expect("valid demo date"),
                    mobile_phone: Some(phone.into()),
                    programs: vec!["rpm".into()],
                    // The nurse looks after the demo patients (care team and program, so their
                    // readings and alerts too), so the console's inbox has them at once.
                    care_team: nurse_id.into_iter().collect(),
                },
            )
            .await?;
    }
    Ok(DemoReport {
        already_seeded: false,
        customer_id: Some(customer.id),
        practice_id: Some(practice.id),
    })
}

impl DemoReport {
    pub fn instructions(&self, settings: &Settings) -> String {
        let base = settings.public_base_url.as_str().trim_end_matches('/');
        let head = if self.already_seeded {
            "The demo data is already in this store.".to_string()
        } else {
            format!(
                "Seeded customer {} and practice {} (SMS number {PRACTICE_NUMBER}).",
                self.customer_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                self.practice_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            )
        };
        format!(
            "{head}\n\
             Users: {ADMIN_USERNAME} (customer admin) and {STAFF_USERNAME} (staff), password {DEMO_PASSWORD}\n\
             Try next:\n  \
               cargo run --release -p gateway            # serve on {listen}\n  \
               open {base}/app                           # the staff console: sign in as {STAFF_USERNAME}\n  \
               curl {base}/healthz\n  \
               curl {base}/readyz\n  \
               curl {base}/openapi.json",
            listen = settings.listen
        )
    }
}
