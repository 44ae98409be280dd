//! Completes the OpenAPI document with the error answers every route shares, so that
//! `/openapi.json` lists every status a route can answer (API.md) without each route repeating
//! them, and routes added later get them too.
//!
//! Applied to the finished document (after every route registered itself). From what an
//! operation declares it adds, unless the route documents the status itself:
//! - a bearer-secured route: 401 (no valid session) and 403 (the caller's role does not allow it);
//! - a path parameter: 404 (nothing by that id, or not the caller's to know; also an id that
//!   does not parse);
//! - a request body: 400 (not JSON), 413 (over the body limit), 415 (not JSON's content type) and
//!   422 (a field invalid, unknown or holding NUL);
//! - query parameters: 422;
//! - every `/v1` and webhook route: 503 (the store is unavailable, or the request timed out).
//!
//! Route-specific answers (409, 423, 429) stay with the route that gives them.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds the shared error answers to every operation of `doc` (see the module docs).
pub fn add_shared_error_responses(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let served = path.starts_with("/v1/") || path.starts_with("/webhooks/");
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for status in shared_statuses(operation, served) {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(status));
            }
        }
    }
}

/// The shared statuses that apply to `operation`.
fn shared_statuses(operation: &Operation, served: bool) -> Vec<u16> {
    let mut statuses = Vec::new();
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    if secured {
        statuses.extend([401, 403]);
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path)
    {
        statuses.push(404);
    }
    if operation.request_body.is_some() {
        statuses.extend([400, 413, 415, 422]);
    }
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query)
    {
        statuses.push(422);
    }
    if served {
        statuses.push(503);
    }
    statuses
}

fn error_response(status: u16) -> RefOr<utoipa::openapi::Response> {
    let description = match status {
        400 => "the body is not valid JSON",
        401 => "no valid session or token",
        403 => "the caller's role does not allow this",
        404 => "not found, or not the caller's to know about (also an id that does not parse)",
        413 => "the body is larger than the API accepts",
        415 => "the body is not sent as application/json",
        422 => "a field is invalid, unknown or holds a NUL character; the message names it",
        503 => "the store is unavailable or the request took too long; retry shortly",
        _ => "an error",
    };
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{PathItem, PathsBuilder, ResponseBuilder};

    use super::*;

    fn statuses(doc: &OpenApi, path: &str) -> Vec<String> {
        let item = &doc.paths.paths[path];
        let operation = item.post.as_ref().or(item.get.as_ref()).unwrap();
        operation.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn each_kind_of_input_brings_its_error_answers_and_a_routes_own_answers_stay() {
        let secured_with_body = OperationBuilder::new()
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path),
            )
            .request_body(Some(RequestBodyBuilder::new().build()))
            .response("201", ResponseBuilder::new().description("created"))
            .response("422", ResponseBuilder::new().description("the route's own"))
            .build();
        let open_query = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("q")
                    .parameter_in(ParameterIn::Query),
            )
            .response("200", ResponseBuilder::new().description("ok"))
            .build();
        let health = OperationBuilder::new()
            .response("200", ResponseBuilder::new().description("ok"))
            .build();
        let mut doc = OpenApi::new(
            utoipa::openapi::Info::new("t", "1"),
            PathsBuilder::new()
                .path(
                    "/v1/things/{id}",
                    PathItem::new(utoipa::openapi::HttpMethod::Post, secured_with_body),
                )
                .path(
                    "/v1/search",
                    PathItem::new(utoipa::openapi::HttpMethod::Get, open_query),
                )
                .path(
                    "/healthz",
                    PathItem::new(utoipa::openapi::HttpMethod::Get, health),
                ),
        );
        add_shared_error_responses(&mut doc);
        assert_eq!(
            statuses(&doc, "/v1/things/{id}"),
            [
                "201", "400", "401", "403", "404", "413", "415", "422", "503"
            ]
        );
        let own = &doc.paths.paths["/v1/things/{id}"]
            .post
            .as_ref()
            .unwrap()
            .responses
            .responses["422"];
        let RefOr::T(own) = own else { panic!() };
        assert_eq!(own.description, "the route's own");
        assert_eq!(statuses(&doc, "/v1/search"), ["200", "422", "503"]);
        assert_eq!(statuses(&doc, "/healthz"), ["200"]);
    }
}
