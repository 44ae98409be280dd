//! What an inbound text needs to know about the practice it was sent to, kept in the process so
//! that an ordinary text reads nothing before its transaction: the practice behind the number,
//! its templates, who hears of texting status changes, its on-call schedule, and, filled as texts
//! arrive, the patients on each sender's number with their care team and subscribers, and how
//! each of those users is reached for a new patient message.
//!
//! Kept fresh by the store's configuration version ([`store::Inbound::config_version`], bumped
//! by triggers on every table read here, whoever writes it): a context carries the version read
//! before it was loaded, the inbound transaction refuses a decision made with an older one
//! (`store::CONFIG_CHANGED`), and the service then drops every context and decides again. On
//! PostgreSQL the `gateway_config` notification drops them at once on every instance as well.
//! Who is on call is worked out at each text's own time from the cached schedule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use store::{Practice, StoreError};
use templates::TemplateSet;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::app::App;
use crate::domain::notifications::NotificationKind;
use crate::domain::oncall::{Schedule, on_call_at};
use crate::services::notify::{Audience, UserReach, reach_of_users};
use crate::services::{conversations, texting};

/// Senders remembered per practice before the list is started afresh (a bound on memory).
const MAX_SENDERS: usize = 20_000;

/// The practice's patients on one number, each with their care team and subscribers (in the
/// order [`conversations::interested_users`] gives).
type PatientsOnNumber = Arc<Vec<(Uuid, Vec<Uuid>)>>;

/// The contexts of the practice numbers this process has seen texts for.
#[derive(Default)]
pub struct PracticeContexts {
    inner: Mutex<Contexts>,
}

#[derive(Default)]
struct Contexts {
    /// One cell per `To` number: the first text loads it, texts arriving meanwhile wait for it.
    by_number: HashMap<String, Arc<OnceCell<Arc<PracticeContext>>>>,
    /// The last `gateway_config` signal seen (PostgreSQL).
    signal_seen: u64,
}

/// One practice number's context, as of [`PracticeContext::version`].
pub struct PracticeContext {
    /// The configuration version read before anything else was loaded.
    pub version: i64,
    /// `None` for a number no practice has.
    pub practice: Option<Practice>,
    pub templates: TemplateSet,
    /// Who hears of texting status changes ("Two-Way Texting").
    pub status_recipients: Audience,
    schedule: Schedule,
    /// Sender number → the practice's patients on it, each with care team and subscribers.
    senders: Mutex<HashMap<String, PatientsOnNumber>>,
    /// User → how they hear of a new patient message (`None`: not at all).
    message_reach: Mutex<HashMap<Uuid, Option<UserReach>>>,
}

impl PracticeContexts {
    /// The context of `number`, loaded if this process has none that is current.
    pub async fn get(&self, state: &App, number: &str) -> Result<Arc<PracticeContext>, StoreError> {
        let cell = {
            let mut inner = self.inner.lock().expect("practice contexts lock");
            if let Some(signals) = state.store.config_signals() {
                let signal = *signals.borrow();
                if signal != inner.signal_seen {
                    inner.signal_seen = signal;
                    inner.by_number.clear();
                }
            }
            Arc::clone(inner.by_number.entry(number.to_owned()).or_default())
        };
        let context = cell
            .get_or_try_init(|| async { load(state, number).await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(context))
    }

    /// Forgets every context (the configuration changed).
    pub fn clear(&self) {
        self.inner
            .lock()
            .expect("practice contexts lock")
            .by_number
            .clear();
    }
}

async fn load(state: &App, number: &str) -> Result<PracticeContext, StoreError> {
    // Read first: whatever is loaded after it is at least this recent.
    let version = state.store.config_version().await?;
    let practice = state.store.find_practice_by_number(number).await?;
    let (templates, status_recipients, schedule) = match &practice {
        Some(practice) => (
            crate::services::templates::practice_templates(state, practice.id).await?,
            texting::status_recipients(state, practice.id).await?,
            crate::services::oncall::schedule(state, practice.id, state.clock.now()).await?,
        ),
        None => (
            TemplateSet::defaults(),
            Audience::default(),
            Schedule::default(),
        ),
    };
    Ok(PracticeContext {
        version,
        practice,
        templates,
        status_recipients,
        schedule,
        senders: Mutex::default(),
        message_reach: Mutex::default(),
    })
}

impl PracticeContext {
    /// Who hears of a new message from each of the practice's patients on `number`, at `now`:
    /// the care team and subscribers per their settings, and whoever is on call (as
    /// [`conversations::new_message_recipients`] answers for each patient on the number, from the
    /// cache).
    pub async fn message_recipients(
        &self,
        state: &App,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, Audience>, StoreError> {
        let Some(practice) = &self.practice else {
            return Ok(HashMap::new());
        };
        let patients = self.patients_on(state, practice.id, number).await?;
        let on_call = on_call_at(&self.schedule, practice.timezone.tz(), now);
        let mut by_patient = HashMap::with_capacity(patients.len());
        for (patient_id, followers) in patients.iter() {
            // The one rule of who is considered (`services::alerts::followers_and_on_call`).
            let users = crate::domain::notifications::considered(
                NotificationKind::NewPatientMessage,
                followers,
                &[],
                &on_call,
            );
            by_patient.insert(
                *patient_id,
                self.audience(state, practice.id, &users).await?,
            );
        }
        Ok(by_patient)
    }

    async fn patients_on(
        &self,
        state: &App,
        practice_id: Uuid,
        number: &str,
    ) -> Result<PatientsOnNumber, StoreError> {
        if let Some(found) = self.senders.lock().expect("senders lock").get(number) {
            return Ok(Arc::clone(found));
        }
        let mut patients = Vec::new();
        for patient_id in state
            .store
            .patients_with_number(practice_id, number)
            .await?
        {
            let followers = conversations::interested_users(state, patient_id).await?;
            patients.push((patient_id, followers));
        }
        let patients = Arc::new(patients);
        let mut senders = self.senders.lock().expect("senders lock");
        if senders.len() >= MAX_SENDERS {
            senders.clear();
        }
        senders.insert(number.to_owned(), Arc::clone(&patients));
        Ok(patients)
    }

    /// [`crate::services::notify::audience`] for a new patient message, from the cache.
    async fn audience(
        &self,
        state: &App,
        practice_id: Uuid,
        users: &[Uuid],
    ) -> Result<Audience, StoreError> {
        let missing: Vec<Uuid> = {
            let reach = self.message_reach.lock().expect("reach lock");
            users
                .iter()
                .filter(|u| !reach.contains_key(u))
                .copied()
                .collect()
        };
        if !missing.is_empty() {
            let loaded = reach_of_users(
                state,
                practice_id,
                &missing,
                NotificationKind::NewPatientMessage,
            )
            .await?;
            self.message_reach
                .lock()
                .expect("reach lock")
                .extend(loaded);
        }
        let reach = self.message_reach.lock().expect("reach lock");
        let mut audience = Audience::default();
        let mut seen = Vec::with_capacity(users.len());
        for user in users {
            if seen.contains(user) {
                continue;
            }
            seen.push(*user);
            if let Some(Some(user_reach)) = reach.get(user) {
                audience.add_reach(user_reach);
            }
        }
        Ok(audience)
    }
}
