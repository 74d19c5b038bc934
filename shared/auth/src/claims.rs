//! Caller identity from verified JWT claims, and the bearer token from request headers.
//!
//! The claims come from one of two places. An API Gateway HTTP API JWT authorizer passes
//! them in `requestContext.authorizer.jwt.claims` with every value turned into a string:
//! numbers become `"1764512000"` and an array of strings becomes `"[a b]"`. The crate's own
//! verifier (`crate::jwt`) returns them with their JSON types intact. Both shapes are accepted.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::AuthError;

/// Maximum length in characters of the user name, the subject and each group name.
pub const MAX_NAME_CHARS: usize = 256;

/// Maximum length in characters of the `iss` claim, which is a URL.
pub const MAX_ISSUER_CHARS: usize = 2048;

/// Names of the claims that carry the user name and the group list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsConfig {
    /// Claim holding the user name, `email` by default.
    pub user_claim: String,
    /// Claim holding the user's groups, `groups` by default.
    pub groups_claim: String,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            user_claim: "email".to_owned(),
            groups_claim: "groups".to_owned(),
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Trimmed value of the configured user claim.
    pub user: String,
    /// Trimmed `sub` claim, if present and not empty.
    pub subject: Option<String>,
    /// Trimmed `iss` claim, if present and not empty.
    pub issuer: Option<String>,
    /// Group names from the configured groups claim, trimmed and without duplicates.
    pub groups: BTreeSet<String>,
}

/// Builds the caller's identity from a claims object.
///
/// The user claim must be a string that is not empty after trimming, has at most
/// [`MAX_NAME_CHARS`] characters and contains no control characters. The groups claim may be
/// absent, a JSON array of strings, or a string holding one of: the API Gateway rendering
/// `[a b c]`, a JSON array (`["a","b"]`), a comma-separated list (`a, b`) or a single name.
/// Each group name is trimmed, empty names are dropped, and each remaining name must meet the
/// same rules as the user name.
///
/// # Errors
///
/// [`AuthError::ClaimsNotObject`] when `claims` is not a JSON object, and
/// [`AuthError::MissingClaim`] or [`AuthError::InvalidClaim`] naming the claim at fault.
pub fn identity_from_claims(claims: &Value, config: &ClaimsConfig) -> Result<Identity, AuthError> {
    let Some(claims) = claims.as_object() else {
        return Err(AuthError::ClaimsNotObject);
    };

    let user_claim = config.user_claim.as_str();
    let user = match claims.get(user_claim) {
        None | Some(Value::Null) => return Err(AuthError::missing_claim(user_claim)),
        Some(Value::String(text)) => checked_text(user_claim, text, MAX_NAME_CHARS)?
            .ok_or_else(|| AuthError::invalid_claim(user_claim, "is empty"))?,
        Some(_) => return Err(AuthError::invalid_claim(user_claim, "must be a string")),
    };

    let subject = optional_text(claims, "sub", MAX_NAME_CHARS)?;
    let issuer = optional_text(claims, "iss", MAX_ISSUER_CHARS)?;
    let groups = groups_from_claim(claims.get(&config.groups_claim), &config.groups_claim)?;

    Ok(Identity {
        user,
        subject,
        issuer,
        groups,
    })
}

/// Returns the claims object that an API Gateway HTTP API JWT authorizer placed in a
/// payload 2.0 request event, at `requestContext.authorizer.jwt.claims`.
pub fn jwt_authorizer_claims(request: &Value) -> Option<&Value> {
    request.pointer("/requestContext/authorizer/jwt/claims")
}

/// Returns the token of an `Authorization: Bearer <token>` header.
///
/// `headers` is a JSON object of header names to string values, as in an API Gateway or
/// Lambda Function URL event. Header name and scheme match case-insensitively.
///
/// Returns `None` when the header is missing or not a string, when more than one header
/// name matches, or when the scheme is not `Bearer`. Also returns `None` when the token is
/// empty or is not RFC 6750 `token68` text (letters, digits, `-._~+/`, then optional
/// trailing `=`), which rejects two headers that API Gateway joined with a comma.
pub fn bearer_token(headers: &Value) -> Option<&str> {
    let headers = headers.as_object()?;
    let mut matching = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value);
    let value = matching.next()?.as_str()?;
    if matching.next().is_some() {
        return None;
    }

    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    is_token68(token).then_some(token)
}

fn is_token68(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte))
}

/// Trims `text` and checks its length and characters. Returns `None` when nothing is left.
fn checked_text(claim: &str, text: &str, max_chars: usize) -> Result<Option<String>, AuthError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > max_chars {
        return Err(AuthError::invalid_claim(claim, "is too long"));
    }
    if text.chars().any(char::is_control) {
        return Err(AuthError::invalid_claim(
            claim,
            "contains control characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

fn optional_text(
    claims: &Map<String, Value>,
    claim: &str,
    max_chars: usize,
) -> Result<Option<String>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => checked_text(claim, text, max_chars),
        Some(_) => Err(AuthError::invalid_claim(claim, "must be a string")),
    }
}

fn groups_from_claim(value: Option<&Value>, claim: &str) -> Result<BTreeSet<String>, AuthError> {
    match value {
        None | Some(Value::Null) => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => groups_from_array(items, claim),
        Some(Value::String(text)) => groups_from_text(text, claim),
        Some(_) => Err(AuthError::invalid_claim(
            claim,
            "must be a string or an array of strings",
        )),
    }
}

fn groups_from_array(items: &[Value], claim: &str) -> Result<BTreeSet<String>, AuthError> {
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(name) = item else {
            return Err(AuthError::invalid_claim(
                claim,
                "must be a string or an array of strings",
            ));
        };
        names.push(name.as_str());
    }
    collect_group_names(names, claim)
}

/// Parses the string forms of the groups claim.
///
/// NOTE: the API Gateway rendering `[a b]` separates names with spaces and does not quote
/// them, so a group name that itself contains a space arrives split into two names.
fn groups_from_text(text: &str, claim: &str) -> Result<BTreeSet<String>, AuthError> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        // `["a","b"]` parses as JSON. `[a b]` does not, and is the API Gateway rendering.
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) {
            return groups_from_array(&items, claim);
        }
        return collect_group_names(inner.split_whitespace(), claim);
    }
    if text.contains(',') {
        return collect_group_names(text.split(','), claim);
    }
    collect_group_names([text], claim)
}

fn collect_group_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    claim: &str,
) -> Result<BTreeSet<String>, AuthError> {
    let mut groups = BTreeSet::new();
    for name in names {
        if let Some(name) = checked_text(claim, name, MAX_NAME_CHARS)? {
            groups.insert(name);
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests;
