use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_eks::config::Region;
use tokio::sync::Mutex;
use tracing::info;

use crate::calls::CallCounter;
use crate::error::{AwsError, ScopeError};

/// One (account, region) pair that the importer scans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// A source of EKS clients for each account and region.
pub trait ScopeClients: Send + Sync {
    /// Returns a client that reads EKS clusters in `account` and `region`.
    fn eks(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<aws_sdk_eks::Client, ScopeError>> + Send;
}

/// Member-account credentials are renewed when less than this much validity is left.
const CREDENTIAL_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The lifetime asked for member-account sessions, the shortest that STS allows.
const MEMBER_SESSION_SECS: i32 = 900;

/// EKS clients from the function's own credentials for its own account, and from a read-only
/// member-account role, assumed through STS, for each other account.
#[derive(Debug)]
pub struct AwsScopeClients {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    own_account: String,
    member_roles: BTreeMap<String, String>,
    session_name: String,
    counter: Option<CallCounter>,
    credentials: Mutex<HashMap<String, Credentials>>,
}

impl AwsScopeClients {
    /// Creates the client source. `sts` assumes the member-account roles, and
    /// `member_role_arns` maps each other account to its role ARN.
    pub fn new(
        base: SdkConfig,
        sts: aws_sdk_sts::Client,
        own_account: impl Into<String>,
        member_role_arns: BTreeMap<String, String>,
        session_name: impl Into<String>,
        counter: Option<CallCounter>,
    ) -> Self {
        Self {
            base,
            sts,
            own_account: own_account.into(),
            member_roles: member_role_arns,
            session_name: session_name.into(),
            counter,
            credentials: Mutex::new(HashMap::new()),
        }
    }

    pub fn own_account(&self) -> &str {
        &self.own_account
    }

    /// Returns every account that has clients: the own account first, then member accounts.
    pub fn accounts(&self) -> Vec<String> {
        let mut accounts = vec![self.own_account.clone()];
        accounts.extend(
            self.member_roles
                .keys()
                .filter(|account| **account != self.own_account)
                .cloned(),
        );
        accounts
    }

    async fn member_credentials(&self, account: &str) -> Result<Option<Credentials>, ScopeError> {
        if account == self.own_account {
            return Ok(None);
        }
        let Some(role_arn) = self.member_roles.get(account) else {
            return Err(ScopeError::UnknownAccount {
                account: account.to_string(),
            });
        };

        let mut cache = self.credentials.lock().await;
        if let Some(credentials) = cache.get(account) {
            let fresh = credentials
                .expiry()
                .is_some_and(|expiry| expiry > SystemTime::now() + CREDENTIAL_MARGIN);
            if fresh {
                return Ok(Some(credentials.clone()));
            }
        }

        let output = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&self.session_name)
            .duration_seconds(MEMBER_SESSION_SECS)
            .send()
            .await
            .map_err(|error| ScopeError::AssumeRole {
                role_arn: role_arn.clone(),
                source: AwsError::from_sdk("sts:AssumeRole", error),
            })?;
        let Some(sts_credentials) = output.credentials() else {
            return Err(ScopeError::NoCredentials {
                role_arn: role_arn.clone(),
            });
        };
        let expiry = SystemTime::try_from(*sts_credentials.expiration()).ok();
        let credentials = Credentials::new(
            sts_credentials.access_key_id(),
            sts_credentials.secret_access_key(),
            Some(sts_credentials.session_token().to_string()),
            expiry,
            "eksgate-member-role",
        );
        info!(account = %account, role_arn = %role_arn, "assumed member-account role");
        cache.insert(account.to_string(), credentials.clone());
        Ok(Some(credentials))
    }
}

impl ScopeClients for AwsScopeClients {
    async fn eks(&self, account: &str, region: &str) -> Result<aws_sdk_eks::Client, ScopeError> {
        let credentials = self.member_credentials(account).await?;
        let mut config =
            aws_sdk_eks::config::Builder::from(&self.base).region(Region::new(region.to_string()));
        if let Some(credentials) = credentials {
            config = config.credentials_provider(credentials);
        }
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        Ok(aws_sdk_eks::Client::from_conf(config.build()))
    }
}

/// Parses a member-account role ARN, `arn:<partition>:iam::<account>:role/<path/><name>`,
/// returning its account ID, or a message naming the value and the expected form.
pub fn parse_member_role_arn(arn: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "invalid member-account role ARN {arn:?}: expected arn:<partition>:iam::<12-digit account>:role/<name>"
        )
    };
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account, resource] = fields[..] else {
        return Err(invalid());
    };
    let partition_known = eksgate_tags::Partition::parse(partition).is_some();
    let account_valid = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let resource_valid = resource
        .strip_prefix("role/")
        .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'));
    if !(partition_known && account_valid && resource_valid) {
        return Err(invalid());
    }
    Ok(account.to_string())
}

/// Parses a comma-separated list of member-account role ARNs into a map from account ID to role
/// ARN. Blank entries are skipped. Returns a message naming the value when an ARN is invalid or
/// an account is listed twice.
pub fn parse_member_role_arns(list: &str) -> Result<BTreeMap<String, String>, String> {
    let mut member_role_arns = BTreeMap::new();
    for arn in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let account = parse_member_role_arn(arn)?;
        if let Some(previous) = member_role_arns.insert(account.clone(), arn.to_string()) {
            return Err(format!(
                "account {account} is listed twice ({previous} and {arn}): keep one role per account"
            ));
        }
    }
    Ok(member_role_arns)
}

/// Returns the account ID of the credentials that `sts` signs with, from sts:GetCallerIdentity.
pub async fn caller_account(sts: &aws_sdk_sts::Client) -> Result<String, AwsError> {
    const OPERATION: &str = "sts:GetCallerIdentity";
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| AwsError::from_sdk(OPERATION, error))?;
    identity.account().map(str::to_string).ok_or_else(|| {
        let message = "GetCallerIdentity returned no account";
        AwsError {
            operation: OPERATION,
            code: None,
            message: message.to_string(),
            transient: false,
            source: message.into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account ID and its role ARN.
    type Member = (&'static str, &'static str);

    #[test]
    fn member_role_arn_list_table() {
        let cases: &[(&str, Result<&[Member], &str>)] = &[
            ("", Ok(&[])),
            (" , ", Ok(&[])),
            (
                "arn:aws:iam::222233334444:role/read, arn:aws:iam::555566667777:role/ops/read,",
                Ok(&[
                    ("222233334444", "arn:aws:iam::222233334444:role/read"),
                    ("555566667777", "arn:aws:iam::555566667777:role/ops/read"),
                ]),
            ),
            (
                "arn:aws:iam::222233334444:role/a,arn:aws:iam::222233334444:role/b",
                Err("account 222233334444 is listed twice"),
            ),
            (
                "arn:aws:iam::222233334444:role/a,arn:aws:iam::1234:role/x",
                Err("\"arn:aws:iam::1234:role/x\""),
            ),
        ];
        for (list, expected) in cases {
            let parsed = parse_member_role_arns(list);
            match expected {
                Ok(pairs) => {
                    let expected: BTreeMap<String, String> = pairs
                        .iter()
                        .map(|(account, arn)| (account.to_string(), arn.to_string()))
                        .collect();
                    assert_eq!(parsed, Ok(expected), "list {list:?}");
                }
                Err(fragment) => {
                    let message = parsed.expect_err(list);
                    assert!(message.contains(fragment), "list {list:?}: {message}");
                }
            }
        }
    }

    #[test]
    fn member_role_arn_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "arn:aws:iam::222233334444:role/eksgate-read",
                Some("222233334444"),
            ),
            (
                "arn:aws-cn:iam::222233334444:role/ops/eksgate-read",
                Some("222233334444"),
            ),
            (
                "arn:aws-us-gov:iam::222233334444:role/r",
                Some("222233334444"),
            ),
            ("arn:aws:iam::22223333444:role/r", None),
            ("arn:aws:iam::2222333344445:role/r", None),
            ("arn:aws:iam::22223333444x:role/r", None),
            ("arn:aws:iam::222233334444:user/r", None),
            ("arn:aws:iam::222233334444:role/", None),
            ("arn:aws:sts::222233334444:role/r", None),
            ("arn:aws-iso:iam::222233334444:role/r", None),
            ("arn:aws:iam:us-east-1:222233334444:role/r", None),
            ("222233334444", None),
            ("", None),
        ];
        for (arn, expected) in cases {
            let parsed = parse_member_role_arn(arn);
            assert_eq!(parsed.as_deref().ok(), *expected, "ARN {arn:?}");
            if let Err(message) = parsed {
                assert!(message.contains(&format!("{arn:?}")), "message {message:?}");
            }
        }
    }
}

#[cfg(test)]
mod mocked_tests {
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const ROLE: &str = "arn:aws:iam::222233334444:role/eksgate-read";

    fn base_config() -> SdkConfig {
        // The mocked STS client returns every response. EKS clients are built but never called.
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )))
            .build()
    }

    fn clients(sts: aws_sdk_sts::Client) -> AwsScopeClients {
        let members = BTreeMap::from([("222233334444".to_string(), ROLE.to_string())]);
        AwsScopeClients::new(
            base_config(),
            sts,
            "111122223333",
            members,
            "eksgate-importer",
            None,
        )
    }

    fn sts_error(status: u16, code: &str) -> HttpResponse {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} for tests</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        );
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }

    #[tokio::test]
    async fn assume_role_denied_is_permanent() {
        let denied = mock!(aws_sdk_sts::Client::assume_role)
            .then_http_response(|| sts_error(403, "AccessDenied"));
        let clients = clients(mock_client!(aws_sdk_sts, [&denied]));

        let error = clients.eks("222233334444", "eu-west-1").await.unwrap_err();

        assert!(
            matches!(&error, ScopeError::AssumeRole { role_arn, .. } if role_arn == ROLE),
            "{error:?}"
        );
        assert!(!error.is_transient());
        let ScopeError::AssumeRole { source, .. } = &error else {
            unreachable!()
        };
        assert_eq!(source.code.as_deref(), Some("AccessDenied"));
    }

    #[tokio::test]
    async fn assume_role_throttled_is_transient() {
        let throttled = mock!(aws_sdk_sts::Client::assume_role)
            .then_http_response(|| sts_error(400, "Throttling"));
        let clients = clients(mock_client!(aws_sdk_sts, [&throttled]));

        let error = clients.eks("222233334444", "eu-west-1").await.unwrap_err();

        assert!(error.is_transient(), "{error:?}");
    }

    #[tokio::test]
    async fn member_credentials_cached() {
        let granted = mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(|request| {
                request.role_arn() == Some(ROLE) && request.duration_seconds() == Some(900)
            })
            .then_output(|| {
                let expiry = SystemTime::now() + Duration::from_secs(900);
                AssumeRoleOutput::builder()
                    .credentials(
                        aws_sdk_sts::types::Credentials::builder()
                            .access_key_id("ASIAEXAMPLE")
                            .secret_access_key("secret")
                            .session_token("token")
                            .expiration(aws_smithy_types::DateTime::from(expiry))
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let clients = clients(mock_client!(aws_sdk_sts, [&granted]));

        clients.eks("222233334444", "eu-west-1").await.unwrap();
        clients.eks("222233334444", "us-east-1").await.unwrap();
        clients.eks("111122223333", "us-east-1").await.unwrap();

        assert_eq!(
            granted.num_calls(),
            1,
            "one AssumeRole serves every region of the account"
        );
    }

    #[tokio::test]
    async fn unknown_account_rejected() {
        let unused = mock!(aws_sdk_sts::Client::assume_role)
            .then_http_response(|| sts_error(403, "AccessDenied"));
        let clients = clients(mock_client!(aws_sdk_sts, [&unused]));

        let error = clients.eks("999988887777", "eu-west-1").await.unwrap_err();

        assert!(matches!(error, ScopeError::UnknownAccount { .. }));
        assert_eq!(unused.num_calls(), 0);
    }
}
