//! Reads a role's trust policy and decides whether it lets the issuer assume the role.
//!
//! This is a static reading of the policy, not IAM's evaluation: it matches principals and
//! actions (with `*` and `?` wildcards), applies Deny statements, and checks the `aud` condition
//! of web identity. Other conditions cannot be decided without the request, so a grant that
//! depends on them is reported as a warning with the condition.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::arn::{OidcProvider, parse_role_arn};
use crate::issuer::Issuer;
use crate::report::Status;

/// Decodes a policy document as `GetRole` returns it: URL-encoded JSON (RFC 3986). A document
/// that is already JSON is returned as it is.
pub(crate) fn decode_policy_document(raw: &str) -> Result<Value, String> {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed)
            .map_err(|error| format!("the policy document is not valid JSON: {error}"));
    }
    let decoded = percent_encoding::percent_decode_str(trimmed)
        .decode_utf8()
        .map_err(|error| format!("the URL-encoded policy document is not UTF-8: {error}"))?;
    match serde_json::from_str(&decoded) {
        Ok(value) => Ok(value),
        // Form encoding writes spaces as '+', so such a document parses only after turning them
        // back into spaces.
        Err(error) if trimmed.contains('+') => {
            let spaced = trimmed.replace('+', " ");
            let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy();
            serde_json::from_str(&decoded)
                .map_err(|_| format!("the decoded policy document is not valid JSON: {error}"))
        }
        Err(error) => Err(format!(
            "the decoded policy document is not valid JSON: {error}"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// The principals of a statement: `"*"`, or lists per kind (`AWS`, `Federated`, `Service`,
/// `CanonicalUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principals {
    Any,
    Listed(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    /// `"Sid"` when the statement has one, otherwise its 1-based position.
    pub label: String,
    pub effect: Effect,
    pub principal: Option<Principals>,
    pub not_principal: Option<Principals>,
    pub action: Option<Vec<String>>,
    pub not_action: Option<Vec<String>>,
    pub condition: Option<Map<String, Value>>,
}

/// A parsed IAM policy document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicyDocument {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

/// Parses a policy document and rejects the shapes that IAM rejects. These are a missing
/// statement list, an Effect other than Allow or Deny, a statement without Action or NotAction,
/// and a principal that is neither `"*"` nor a map of strings or string lists.
pub(crate) fn parse_policy(value: &Value) -> Result<PolicyDocument, String> {
    let Value::Object(document) = value else {
        return Err("the policy document is not a JSON object".into());
    };
    let version = match document.get("Version") {
        None => None,
        Some(Value::String(version)) => Some(version.clone()),
        Some(_) => return Err("Version is not a string".into()),
    };
    let raw_statements = match document.get("Statement") {
        Some(Value::Array(statements)) => statements.iter().collect(),
        Some(statement @ Value::Object(_)) => vec![statement],
        Some(_) => return Err("Statement is neither an object nor a list".into()),
        None => return Err("the policy document has no Statement".into()),
    };
    let mut statements = Vec::new();
    for (index, raw) in raw_statements.into_iter().enumerate() {
        statements.push(parse_statement(raw, index + 1)?);
    }
    Ok(PolicyDocument {
        version,
        statements,
    })
}

fn parse_statement(raw: &Value, number: usize) -> Result<Statement, String> {
    let Value::Object(statement) = raw else {
        return Err(format!("statement {number} is not an object"));
    };
    let label = match statement.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("{sid:?}"),
        _ => number.to_string(),
    };
    let effect = match statement.get("Effect") {
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        other => {
            return Err(format!(
                "statement {label}: Effect must be \"Allow\" or \"Deny\", not {}",
                other.map_or("missing".to_string(), Value::to_string)
            ));
        }
    };
    let principal = parse_principals(statement.get("Principal"), &label, "Principal")?;
    let not_principal = parse_principals(statement.get("NotPrincipal"), &label, "NotPrincipal")?;
    let action = parse_string_list(statement.get("Action"), &label, "Action")?;
    let not_action = parse_string_list(statement.get("NotAction"), &label, "NotAction")?;
    if action.is_none() == not_action.is_none() {
        return Err(format!(
            "statement {label}: a statement needs exactly one of Action and NotAction"
        ));
    }
    let condition = match statement.get("Condition") {
        None => None,
        Some(Value::Object(condition)) => Some(condition.clone()),
        Some(_) => return Err(format!("statement {label}: Condition is not an object")),
    };
    Ok(Statement {
        label,
        effect,
        principal,
        not_principal,
        action,
        not_action,
        condition,
    })
}

fn parse_principals(
    value: Option<&Value>,
    label: &str,
    field: &str,
) -> Result<Option<Principals>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(any)) if any == "*" => Ok(Some(Principals::Any)),
        Some(Value::Object(kinds)) => {
            let mut listed = BTreeMap::new();
            for (kind, values) in kinds {
                let values = parse_string_list(Some(values), label, &format!("{field}.{kind}"))?
                    .unwrap_or_default();
                listed.insert(kind.clone(), values);
            }
            Ok(Some(Principals::Listed(listed)))
        }
        Some(other) => Err(format!(
            "statement {label}: {field} must be \"*\" or an object such as {{\"AWS\": \"<ARN>\"}}, \
             not {other}"
        )),
    }
}

fn parse_string_list(
    value: Option<&Value>,
    label: &str,
    field: &str,
) -> Result<Option<Vec<String>>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(one)) => Ok(Some(vec![one.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    format!("statement {label}: {field} must hold only strings, not {item}")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!(
            "statement {label}: {field} must be a string or a list of strings, not {other}"
        )),
    }
}

/// Matches `value` against an IAM wildcard pattern, where `*` matches any run of characters and
/// `?` matches one character.
pub(crate) fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let fold = |text: &str| -> Vec<char> {
        if ignore_case {
            text.to_lowercase().chars().collect()
        } else {
            text.chars().collect()
        }
    };
    let (pattern, value) = (fold(pattern), fold(value));
    // Greedy matching with backtracking to the last '*'.
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The coverage of the issuer by a statement's principal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalMatch {
    /// The statement names the issuer itself.
    Exact,
    /// The statement names the issuer's account, which delegates to the account's own
    /// identity policies.
    Account,
    /// The statement covers every principal.
    Anyone,
    /// The statement does not cover the issuer. The strings explain entries that look meant
    /// for it, such as a deleted role's unique ID.
    No(Vec<String>),
}

/// The issuer as a principal of a trust policy.
enum Caller<'a> {
    Role {
        arn: &'a str,
        partition: String,
        account: String,
        name: String,
    },
    Federated {
        provider: &'a OidcProvider,
        audience: &'a str,
    },
}

impl<'a> Caller<'a> {
    fn of(issuer: &'a Issuer) -> Self {
        match issuer {
            Issuer::Broker { role_arn, .. } => {
                let fields: Vec<&str> = role_arn.split(':').collect();
                let name = parse_role_arn(role_arn)
                    .map(|role| role.name)
                    .unwrap_or_default();
                Self::Role {
                    arn: role_arn,
                    partition: fields.get(1).copied().unwrap_or_default().to_string(),
                    account: fields.get(4).copied().unwrap_or_default().to_string(),
                    name,
                }
            }
            Issuer::WebIdentity { provider, audience } => Self::Federated { provider, audience },
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Role { arn, .. } => format!("the issuer role {arn}"),
            Self::Federated { provider, .. } => format!("the OIDC provider {}", provider.arn()),
        }
    }

    fn match_principals(&self, principals: &Principals) -> PrincipalMatch {
        let listed = match principals {
            Principals::Any => return PrincipalMatch::Anyone,
            Principals::Listed(listed) => listed,
        };
        let mut near_misses = Vec::new();
        match self {
            Self::Role {
                arn,
                partition,
                account,
                name,
            } => {
                let account_root = format!("arn:{partition}:iam::{account}:root");
                for value in listed.get("AWS").into_iter().flatten() {
                    if value == "*" {
                        return PrincipalMatch::Anyone;
                    }
                    if value == arn {
                        return PrincipalMatch::Exact;
                    }
                    if *value == account_root || value == account {
                        return PrincipalMatch::Account;
                    }
                    if value.starts_with("AROA") && !value.contains(':') {
                        near_misses.push(format!(
                            "the principal {value} is the unique ID of a deleted role: IAM \
                             shows the ID instead of the ARN once the role it named is gone, \
                             and a new role with the same name does not match it"
                        ));
                    } else if let Ok(role) = parse_role_arn(value)
                        && role.name.eq_ignore_ascii_case(name)
                    {
                        near_misses.push(format!(
                            "the principal {value} has the issuer role's name but differs from \
                             {arn} in account, partition or path"
                        ));
                    }
                }
            }
            Self::Federated { provider, .. } => {
                for value in listed.get("Federated").into_iter().flatten() {
                    if value == provider.arn() {
                        return PrincipalMatch::Exact;
                    }
                    if value.eq_ignore_ascii_case(provider.arn())
                        || value.trim_end_matches('/') == provider.arn()
                        || value.ends_with(&format!("oidc-provider/{}", provider.issuer()))
                    {
                        near_misses.push(format!(
                            "the federated principal {value} looks meant for {} but is not the \
                             same ARN",
                            provider.arn()
                        ));
                    }
                }
            }
        }
        PrincipalMatch::No(near_misses)
    }

    /// Decides how a statement's principal fields cover the caller, `Principal` or
    /// `NotPrincipal` (which covers everyone it does not list).
    fn match_statement(&self, statement: &Statement) -> PrincipalMatch {
        if let Some(principals) = &statement.principal {
            return self.match_principals(principals);
        }
        if let Some(excluded) = &statement.not_principal {
            return match self.match_principals(excluded) {
                PrincipalMatch::No(_) => PrincipalMatch::Anyone,
                _ => PrincipalMatch::No(Vec::new()),
            };
        }
        PrincipalMatch::No(Vec::new())
    }
}

fn covers_action(statement: &Statement, action: &str) -> bool {
    if let Some(patterns) = &statement.action {
        return patterns
            .iter()
            .any(|pattern| wildcard_match(pattern, action, true));
    }
    if let Some(excluded) = &statement.not_action {
        return !excluded
            .iter()
            .any(|pattern| wildcard_match(pattern, action, true));
    }
    false
}

/// The verdict on the conditions of an Allow statement for the issuer.
enum ConditionVerdict {
    /// No condition, or only conditions that the issuer is known to meet.
    Met,
    /// Conditions that depend on the request, with their text.
    Depends(String),
    /// A condition that the issuer cannot meet, with the reason.
    Unmet(String),
}

/// Splits a condition operator into its base (`StringEquals`) and whether it negates.
fn operator_base(operator: &str) -> String {
    let without_set = operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| operator.strip_prefix("ForAllValues:"))
        .unwrap_or(operator);
    without_set
        .strip_suffix("IfExists")
        .unwrap_or(without_set)
        .to_string()
}

fn condition_values(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

fn judge_conditions(
    caller: &Caller<'_>,
    issuer: &Issuer,
    statement: &Statement,
) -> ConditionVerdict {
    let Some(condition) = &statement.condition else {
        return match caller {
            Caller::Federated { provider, .. } => ConditionVerdict::Depends(format!(
                "statement {} has no {} condition, so tokens issued to any client of the \
                 identity provider can assume the role",
                statement.label,
                provider.audience_key()
            )),
            Caller::Role { .. } => ConditionVerdict::Met,
        };
    };
    match caller {
        Caller::Role { .. } => {
            if let Issuer::Broker {
                source_identity_pattern: Some(pattern),
                ..
            } = issuer
            {
                let expected = serde_json::json!({"StringLike": {"sts:SourceIdentity": pattern}});
                if Value::Object(condition.clone()) == expected {
                    return ConditionVerdict::Met;
                }
            }
            ConditionVerdict::Depends(format!(
                "statement {} allows it only under the condition {}. The issuer sends the \
                 user's session name (such as dev.one@example.com) as RoleSessionName and \
                 SourceIdentity, so make sure every user meets it",
                statement.label,
                Value::Object(condition.clone())
            ))
        }
        Caller::Federated { provider, audience } => {
            judge_web_identity_conditions(condition, provider, audience, &statement.label)
        }
    }
}

fn judge_web_identity_conditions(
    condition: &Map<String, Value>,
    provider: &OidcProvider,
    audience: &str,
    label: &str,
) -> ConditionVerdict {
    let aud_key = provider.audience_key().to_lowercase();
    let mut aud_seen = false;
    let mut others = Map::new();
    for (operator, keys) in condition {
        let Value::Object(keys) = keys else {
            others.insert(operator.clone(), keys.clone());
            continue;
        };
        for (key, expected) in keys {
            if key.to_lowercase() != aud_key {
                others
                    .entry(operator.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("inserted as an object")
                    .insert(key.clone(), expected.clone());
                continue;
            }
            aud_seen = true;
            let values = condition_values(expected);
            let base = operator_base(operator);
            let matched = match base.as_str() {
                "StringEquals" | "StringNotEquals" => values.iter().any(|v| v == audience),
                "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => {
                    values.iter().any(|v| v.eq_ignore_ascii_case(audience))
                }
                "StringLike" | "StringNotLike" => {
                    values.iter().any(|v| wildcard_match(v, audience, false))
                }
                _ => {
                    return ConditionVerdict::Depends(format!(
                        "statement {label} tests {key} with {operator}, which this check does \
                         not evaluate"
                    ));
                }
            };
            let negated = base.contains("Not");
            if matched == negated {
                return ConditionVerdict::Unmet(format!(
                    "statement {label} requires {key} {operator} {} but the issuer's audience \
                     (client ID) is {audience:?}",
                    Value::Array(values.into_iter().map(Value::String).collect())
                ));
            }
        }
    }
    if !aud_seen {
        return ConditionVerdict::Depends(format!(
            "statement {label} has no {} condition, so tokens issued to any client of the \
             identity provider can assume the role",
            provider.audience_key()
        ));
    }
    if others.is_empty() {
        ConditionVerdict::Met
    } else {
        ConditionVerdict::Depends(format!(
            "statement {label} also requires {}, which limits the users who can connect",
            Value::Object(others)
        ))
    }
}

/// The verdict on a trust policy: the worst status and the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustAssessment {
    pub status: Status,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// Decides whether `document` lets `issuer` call every action that its mode needs.
pub(crate) fn assess_trust(document: &PolicyDocument, issuer: &Issuer) -> TrustAssessment {
    let caller = Caller::of(issuer);
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();

    for action in issuer.required_actions() {
        for statement in document
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Deny)
        {
            if !covers_action(statement, action) {
                continue;
            }
            if let PrincipalMatch::No(_) = caller.match_statement(statement) {
                continue;
            }
            match &statement.condition {
                None => problems.push(format!(
                    "statement {} denies {action} to {}",
                    statement.label,
                    caller.describe()
                )),
                Some(condition) => warnings.push(format!(
                    "statement {} denies {action} when {} holds",
                    statement.label,
                    Value::Object(condition.clone())
                )),
            }
        }

        let mut granted = false;
        let mut conditional = Vec::new();
        let mut rejections = Vec::new();
        for statement in document
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Allow)
        {
            if !covers_action(statement, action) {
                continue;
            }
            let principal = match caller.match_statement(statement) {
                PrincipalMatch::No(near_misses) => {
                    rejections.extend(near_misses);
                    continue;
                }
                principal => principal,
            };
            match judge_conditions(&caller, issuer, statement) {
                ConditionVerdict::Unmet(reason) => rejections.push(reason),
                ConditionVerdict::Depends(reason) => {
                    if principal == PrincipalMatch::Anyone {
                        warnings.push(format!(
                            "statement {} trusts every principal (\"*\"), limited only by its \
                             condition",
                            statement.label
                        ));
                    }
                    conditional.push(reason);
                }
                ConditionVerdict::Met => {
                    granted = true;
                    match principal {
                        PrincipalMatch::Anyone => problems.push(format!(
                            "statement {} lets any principal in any AWS account call {action} \
                             without a condition: name {} instead of \"*\"",
                            statement.label,
                            caller.describe()
                        )),
                        PrincipalMatch::Account => notes.push(format!(
                            "statement {} trusts the whole issuer account, so {action} also \
                             needs the issuer role's own policy to allow it on this role",
                            statement.label
                        )),
                        _ => {}
                    }
                }
            }
        }

        if granted {
            continue;
        }
        if !conditional.is_empty() {
            warnings.extend(conditional);
            continue;
        }
        let mut reason = format!(
            "no Allow statement lets {} call {action}",
            caller.describe()
        );
        for rejection in dedup(rejections) {
            reason.push_str("; ");
            reason.push_str(&rejection);
        }
        problems.push(reason);
    }

    let problems = dedup(problems);
    let warnings = dedup(warnings);
    let notes = dedup(notes);
    let status = if !problems.is_empty() {
        Status::Problem
    } else if !warnings.is_empty() {
        Status::Warning
    } else {
        Status::Ok
    };
    TrustAssessment {
        status,
        problems,
        warnings,
        notes,
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}
