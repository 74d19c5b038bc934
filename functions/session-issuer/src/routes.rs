//! The API's routes. [`ROUTES`] is the single list that the router, the SAM template and the
//! OpenAPI document are checked against.

use crate::http::ApiError;

/// An API operation, with the values its path carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListClusters,
    GetCluster {
        account: String,
        region: String,
        name: String,
    },
    CreateRequest,
    ListRequests,
    GetRequest {
        id: String,
    },
    ApproveRequest {
        id: String,
    },
    DenyRequest {
        id: String,
    },
    CancelRequest {
        id: String,
    },
    ListGrants,
    EndGrant {
        id: String,
    },
    RevokeGrant {
        id: String,
    },
    CreateSession,
    ListSessions,
    ListAudit,
}

/// Every route as (method, path template, operation ID), in the order the OpenAPI document
/// lists them.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/clusters", "listClusters"),
    ("GET", "/clusters/{account}/{region}/{name}", "getCluster"),
    ("POST", "/requests", "createRequest"),
    ("GET", "/requests", "listRequests"),
    ("GET", "/requests/{id}", "getRequest"),
    ("POST", "/requests/{id}/approve", "approveRequest"),
    ("POST", "/requests/{id}/deny", "denyRequest"),
    ("POST", "/requests/{id}/cancel", "cancelRequest"),
    ("GET", "/grants", "listGrants"),
    ("POST", "/grants/{id}/end", "endGrant"),
    ("POST", "/grants/{id}/revoke", "revokeGrant"),
    ("POST", "/sessions", "createSession"),
    ("GET", "/sessions", "listSessions"),
    ("GET", "/audit", "listAudit"),
];

/// Finds the route of a request, or a 404 or 405 error.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut path_matched = false;
    for (route_method, template, operation) in ROUTES {
        let Some(params) = match_template(template, &segments) else {
            continue;
        };
        path_matched = true;
        if *route_method != method {
            continue;
        }
        return Ok(build(operation, params));
    }
    if path_matched {
        let allowed: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, template, _)| match_template(template, &segments).is_some())
            .map(|(method, _, _)| *method)
            .collect();
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!(
                "{method} is not allowed on {path}; use {}",
                allowed.join(" or ")
            ),
        ));
    }
    Err(ApiError::not_found(format!(
        "no route {method} {path}; see the OpenAPI document for the routes"
    )))
}

fn match_template<'a>(template: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push(*segment);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

fn build(operation: &str, params: Vec<&str>) -> Route {
    let param = |index: usize| crate::http::percent_decode(params[index]);
    match operation {
        "listClusters" => Route::ListClusters,
        "getCluster" => Route::GetCluster {
            account: param(0),
            region: param(1),
            name: param(2),
        },
        "createRequest" => Route::CreateRequest,
        "listRequests" => Route::ListRequests,
        "getRequest" => Route::GetRequest { id: param(0) },
        "approveRequest" => Route::ApproveRequest { id: param(0) },
        "denyRequest" => Route::DenyRequest { id: param(0) },
        "cancelRequest" => Route::CancelRequest { id: param(0) },
        "listGrants" => Route::ListGrants,
        "endGrant" => Route::EndGrant { id: param(0) },
        "revokeGrant" => Route::RevokeGrant { id: param(0) },
        "createSession" => Route::CreateSession,
        "listSessions" => Route::ListSessions,
        "listAudit" => Route::ListAudit,
        other => unreachable!("operation {other} in ROUTES has no Route"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves() {
        for (method, template, _) in ROUTES {
            let path = template
                .replace("{account}", "111122223333")
                .replace("{region}", "eu-west-1")
                .replace("{name}", "payments")
                .replace("{id}", "abc");
            assert!(route(method, &path).is_ok(), "{method} {path}");
        }
    }

    #[test]
    fn path_values_are_decoded() {
        let route = route("GET", "/clusters/111122223333/eu-west-1/pay%2Dments").expect("route");
        assert_eq!(
            route,
            Route::GetCluster {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                name: "pay-ments".into()
            }
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route("GET", "/nope").expect_err("404").status, 404);
        assert_eq!(
            route("GET", "/requests/a/b/c").expect_err("404").status,
            404
        );
        let error = route("DELETE", "/requests").expect_err("405");
        assert_eq!(error.status, 405);
        assert!(error.message.contains("POST or GET"), "{}", error.message);
        assert_eq!(
            route("GET", "/requests/").expect("trailing slash"),
            Route::ListRequests
        );
    }
}
