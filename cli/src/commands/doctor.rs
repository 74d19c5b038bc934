//! `eksgate doctor`: the setup check of one cluster. The roles come from the session API's
//! catalog; IAM and EKS are read with the operator's own AWS credentials.

use aws_config::{BehaviorVersion, Region};
use eksgate_setup::{CatalogRole, DoctorInput, DoctorReport, Issuer, Status, check_cluster};
use serde_json::Value;

use super::Client;
use crate::api::encode_component;
use crate::args::OutputFormat;
use crate::cluster::{self, ClusterRef};
use crate::error::CliError;
use crate::output::{print, print_json};

pub async fn run(client: &Client, given: &str, issuer: Issuer) -> Result<(), CliError> {
    let cluster = cluster::resolve(&client.api, given).await?;
    let path = format!(
        "/clusters/{}/{}/{}",
        encode_component(&cluster.account),
        encode_component(&cluster.region),
        encode_component(&cluster.name)
    );
    let document = client.api.get(&path).await?;
    let input = doctor_input(&cluster, &document, issuer).map_err(|reason| CliError::Protocol {
        url: client.api.base().join(&path),
        reason,
    })?;

    // aws-config reads credentials, and endpoint overrides such as AWS_ENDPOINT_URL, from the
    // operator's environment and profile. IAM is global; the region only selects the endpoint.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(cluster.region.clone()))
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&config);
    let eks = aws_sdk_eks::Client::new(&config);
    let report = check_cluster(&iam, &eks, &input)
        .await
        .map_err(|error| CliError::Other(format!("the setup check failed: {error}")))?;
    print_report(&report, client.output);
    check_status(&report)
}

/// Builds the check's input from a `GET /clusters/{account}/{region}/{name}` response.
///
/// The catalog does not store the access level of a role, so the fixes in the report use the
/// read-only level for every role.
pub fn doctor_input(
    cluster: &ClusterRef,
    document: &Value,
    issuer: Issuer,
) -> Result<DoctorInput, String> {
    let entry = &document["cluster"];
    if entry["arn"].as_str() != Some(cluster.arn.as_str()) {
        return Err(format!(
            "the response describes cluster {} instead of {}",
            entry["arn"], cluster.arn
        ));
    }
    let roles = entry["roles"]
        .as_array()
        .ok_or("the cluster has no roles list")?;
    let mut catalog_roles = Vec::with_capacity(roles.len());
    for role in roles {
        let field = |name: &str| {
            role[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("a role has no {name} string: {role}"))
        };
        catalog_roles.push(CatalogRole {
            name: field("name")?,
            assume_arn: field("arn")?,
            mapped_arn: field("mapped_arn")?,
            level: None,
        });
    }
    Ok(DoctorInput::new(&cluster.arn, catalog_roles, issuer))
}

fn print_report(report: &DoctorReport, output: OutputFormat) {
    match output {
        OutputFormat::Json => {
            let document = serde_json::to_value(report).expect("a report serializes");
            print_json(&document);
        }
        OutputFormat::Table => print(&report.render()),
    }
}

/// Fails with exit status 1 when the report has problems. Warnings and unchecked items pass.
fn check_status(report: &DoctorReport) -> Result<(), CliError> {
    if report.status == Status::Problem || report.counts.problem > 0 {
        return Err(CliError::Other(format!(
            "the setup check found {} problem(s) on {}; fix them as the report shows",
            report.counts.problem, report.cluster_arn
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use eksgate_setup::{AssumeMode, Check, CheckKind, RoleReport, StatusCounts};
    use serde_json::json;

    use super::*;

    const CLUSTER: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";

    fn cluster() -> ClusterRef {
        ClusterRef::parse_arn(CLUSTER).expect("valid ARN")
    }

    fn issuer() -> Issuer {
        Issuer::broker("arn:aws:iam::111122223333:role/eksgate-session-issuer").expect("valid")
    }

    fn report(status: Status, problems: usize) -> DoctorReport {
        DoctorReport {
            cluster_arn: CLUSTER.into(),
            mode: AssumeMode::Broker,
            authentication_mode: Some("API".into()),
            status,
            counts: StatusCounts {
                ok: 1,
                unchecked: 0,
                warning: 0,
                problem: problems,
            },
            checks: Vec::new(),
            roles: vec![RoleReport {
                name: "eksgate/prod-admin".into(),
                assume_arn: "arn:aws:iam::111122223333:role/eksgate/prod-admin".into(),
                mapped_arn: "arn:aws:iam::111122223333:role/prod-admin".into(),
                checks: Vec::<Check>::new(),
            }],
        }
    }

    #[test]
    fn input_from_cluster_response() {
        let document = json!({"cluster": {
            "arn": CLUSTER,
            "name": "prod",
            "roles": [{
                "name": "eksgate/prod-admin",
                "arn": "arn:aws:iam::111122223333:role/eksgate/prod-admin",
                "mapped_arn": "arn:aws:iam::111122223333:role/prod-admin",
                "usable": true
            }]
        }});
        let input = doctor_input(&cluster(), &document, issuer()).expect("input");
        assert_eq!(input.cluster_arn, CLUSTER);
        assert_eq!(input.roles.len(), 1);
        assert_eq!(
            input.roles[0].assume_arn,
            "arn:aws:iam::111122223333:role/eksgate/prod-admin"
        );
        assert_eq!(
            input.roles[0].mapped_arn,
            "arn:aws:iam::111122223333:role/prod-admin"
        );
        assert_eq!(input.roles[0].level, None);
        assert_eq!(input.issuer, issuer());
    }

    #[test]
    fn input_rejects_other_cluster() {
        let document = json!({"cluster": {
            "arn": "arn:aws:eks:eu-west-1:111122223333:cluster/other",
            "roles": []
        }});
        let error = doctor_input(&cluster(), &document, issuer()).expect_err("other cluster");
        assert!(error.contains("instead of"), "{error}");
    }

    #[test]
    fn input_rejects_role_without_arn() {
        let document = json!({"cluster": {
            "arn": CLUSTER,
            "roles": [{"name": "prod-admin", "mapped_arn": "x"}]
        }});
        let error = doctor_input(&cluster(), &document, issuer()).expect_err("no arn");
        assert!(error.contains("no arn string"), "{error}");
    }

    #[test]
    fn status_fails_only_on_problems() {
        assert!(check_status(&report(Status::Ok, 0)).is_ok());
        assert!(check_status(&report(Status::Warning, 0)).is_ok());
        let error = check_status(&report(Status::Problem, 2)).expect_err("problems");
        assert_eq!(error.exit_status(), 1);
        assert!(error.to_string().contains("2 problem(s)"), "{error}");
    }

    #[test]
    fn report_renders_roles() {
        let mut report = report(Status::Problem, 1);
        report.checks.push(Check {
            kind: CheckKind::Cluster,
            status: Status::Problem,
            message: "cluster not found".into(),
            details: Vec::new(),
            fix: Some("aws eks describe-cluster --name prod".into()),
        });
        let text = report.render();
        assert!(text.contains(CLUSTER), "{text}");
        assert!(text.contains("eksgate/prod-admin"), "{text}");
        assert!(text.contains("cluster not found"), "{text}");
    }
}
