//! SDK configuration that reaches only a local endpoint, with dummy credentials.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The account that moto gives the default credentials.
pub const OWN_ACCOUNT: &str = "123456789012";

/// Builds an SDK configuration for `region` whose every client sends requests to `endpoint`,
/// signed with dummy credentials. It reads no environment, profile or instance metadata.
pub fn local_config(endpoint: &str, region: &str) -> SdkConfig {
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests may only reach a local endpoint, not {endpoint}"
    );
    with_credentials(
        endpoint,
        region,
        Credentials::new("testing", "testing", None, None, "tests"),
    )
}

/// Like [`local_config`], with the given credentials.
pub fn with_credentials(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// Returns an SDK configuration for another account in moto, through the credentials of an
/// assumed role there: moto keys its state by the account of the caller's access key.
pub async fn member_config(endpoint: &str, region: &str, role_arn: &str) -> SdkConfig {
    let sts = aws_sdk_sts::Client::new(&local_config(endpoint, region));
    let output = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("eksgate-tests")
        .send()
        .await
        .expect("moto AssumeRole");
    let credentials = output
        .credentials()
        .expect("AssumeRole returns credentials");
    with_credentials(
        endpoint,
        region,
        Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            None,
            "member",
        ),
    )
}
