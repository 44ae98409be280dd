//! The HTTP surface: routes, shared state and the layers every request passes through.
//!
//! Handlers are thin: extract, authorize, call a service, map the result. Each route module owns
//! its routes and registers them with the OpenAPI router, so `/openapi.json` lists exactly the
//! routes that exist.

pub mod alerts;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod caller;
pub mod console;
pub mod conversations;
pub mod customers;
pub mod dev;
pub mod disclaimers;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod notification_settings;
pub mod notifications;
pub mod oncall;
pub mod openapi;
pub mod ops;
pub mod patients;
pub mod portal;
pub mod practice_groups;
pub mod practices;
pub mod reading_alerts;
pub mod readings;
pub mod sessions;
pub mod templates;
pub mod texting;
pub mod users;
pub mod validate;
pub mod views;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use error::{ApiError, ErrorBody, ErrorDetail};

/// What every handler can reach: the application context and the metrics handle that
/// `/metrics` renders. Cheap to clone; derefs to [`App`], so a handler passes `&state` to a
/// service.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: PrometheusHandle,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SMS-first messaging and alert gateway",
        description = "Admin API, carrier webhooks and operations endpoints. Errors are \
                       `{\"error\": {\"code\", \"message\"}}` with the status of API.md."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme that authenticated routes refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Requests that take longer are answered 503-style by the timeout layer rather than hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application router, with its OpenAPI document served at `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::me))
        .routes(routes!(customers::create_customer))
        .routes(routes!(customers::get_customer))
        .routes(routes!(customers::set_default_users))
        .routes(routes!(
            practices::create_practice,
            practices::list_practices
        ))
        .routes(routes!(practices::get_practice, practices::update_practice))
        .routes(routes!(practices::set_practice_users))
        .routes(routes!(
            practice_groups::list_groups,
            practice_groups::create_group
        ))
        .routes(routes!(
            practice_groups::update_group,
            practice_groups::delete_group
        ))
        .routes(routes!(users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::outstanding))
        .routes(routes!(users::lock_user))
        .routes(routes!(users::unlock_user))
        .routes(routes!(audit::list_audit))
        .routes(routes!(patients::create_patient))
        .routes(routes!(patients::get_patient, patients::update_patient))
        .routes(routes!(patients::search_patients))
        .routes(routes!(templates::list_templates))
        .routes(routes!(templates::put_template))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(notifications::stream))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(
            conversations::list_messages,
            conversations::send_message
        ))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(conversations::add_care_team))
        .routes(routes!(conversations::remove_care_team))
        .routes(routes!(conversations::add_program_staff))
        .routes(routes!(conversations::remove_program_staff))
        .routes(routes!(conversations::care_team_panel))
        .routes(routes!(
            conversations::subscribe,
            conversations::unsubscribe
        ))
        .routes(routes!(portal::enroll))
        .routes(routes!(portal::list, portal::post))
        .routes(routes!(texting::get_texting))
        .routes(routes!(texting::start))
        .routes(routes!(texting::resend))
        .routes(routes!(texting::opt_out))
        .routes(routes!(
            notification_settings::get_user_settings,
            notification_settings::put_user_settings
        ))
        .routes(routes!(
            notification_settings::get_user_defaults,
            notification_settings::put_user_defaults
        ))
        .routes(routes!(
            notification_settings::get_patient_defaults,
            notification_settings::put_patient_defaults
        ))
        .routes(routes!(
            notification_settings::get_patient_settings,
            notification_settings::put_patient_settings
        ))
        .routes(routes!(
            disclaimers::get_disclaimers,
            disclaimers::put_disclaimers
        ))
        .routes(routes!(
            reading_alerts::get_practice_alerts,
            reading_alerts::put_practice_alerts
        ))
        .routes(routes!(
            reading_alerts::get_patient_alerts,
            reading_alerts::put_patient_alerts
        ))
        .routes(routes!(
            reading_alerts::get_frequency,
            reading_alerts::put_frequency
        ))
        .routes(routes!(
            reading_alerts::get_patient_frequency,
            reading_alerts::put_patient_frequency
        ))
        .routes(routes!(oncall::get_on_call, oncall::put_on_call))
        .routes(routes!(oncall::get_overrides, oncall::put_overrides))
        .routes(routes!(oncall::on_call_now))
        .routes(routes!(api_tokens::create_api_token))
        .routes(routes!(api_tokens::revoke_api_token))
        // A reading may be critical: from its authentication to its alert it is urgent work.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(readings::post_reading))
                .route_layer(axum::middleware::from_fn(middleware::reading_urgency)),
        )
        .routes(routes!(readings::list_readings))
        .routes(routes!(webhooks::inbound_sms))
        .routes(routes!(webhooks::status_callback));
    // With METRICS_LISTEN set, /metrics is on that listener only (see `metrics_router`).
    if state.settings.metrics_listen.is_none() {
        api = api.routes(routes!(ops::metrics));
    }
    // The dev transport's view of the outbox exists only when there is no real carrier.
    if state.settings.twilio.is_none() {
        api = api.routes(routes!(dev::outbox));
    }
    // Likewise the dev mail transport's view of the email outbox.
    if state.settings.smtp_url.is_none() {
        api = api.routes(routes!(dev::emails));
    }
    let (routes, mut openapi) = api.split_for_parts();
    openapi::add_shared_error_responses(&mut openapi);
    let openapi = Arc::new(openapi);

    routes
        // The staff console: server-rendered pages over the same services (not in the OpenAPI
        // document, which describes the JSON API).
        .merge(console::router(state.clone()))
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = Arc::clone(&openapi);
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(middleware::sanitise_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(middleware::request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(middleware::json_errors))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    REQUEST_TIMEOUT,
                ))
                .layer(axum::middleware::from_fn(middleware::refuse_nul)),
        )
        .with_state(state)
}

/// The router of the separate metrics listener (`METRICS_LISTEN`): `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(ops::metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "method_not_allowed".into(),
            message: "this route does not accept that method".into(),
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
