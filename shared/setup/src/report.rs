//! The setup check's report: structured for JSON output, and rendered for people.

use std::fmt::Write;

use serde::Serialize;

use crate::issuer::AssumeMode;

/// The outcome of one check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// The check could not run, for example because the caller lacks a permission or the
    /// mapping lives in the cluster's aws-auth ConfigMap. The fix gives the command to check by
    /// hand.
    Unchecked,
    /// The setup works for some users or under some conditions, or needs a look.
    Warning,
    /// The setup is broken: sessions fail or grant more than intended.
    Problem,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unchecked => "unchecked",
            Self::Warning => "warning",
            Self::Problem => "problem",
        }
    }
}

/// The subject of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The cluster and its authentication mode (DescribeCluster).
    Cluster,
    /// The issuer identity: the OIDC provider and its client IDs in web-identity mode.
    Issuer,
    /// The role exists with the ARN that the catalog lists (GetRole).
    RoleExists,
    /// The trust policy lets the issuer assume the role in the configured mode.
    TrustPolicy,
    /// The role may call `eks:DescribeCluster` on the cluster (SimulatePrincipalPolicy).
    DescribeCluster,
    /// The role is mapped into Kubernetes by an access entry or aws-auth.
    KubernetesMapping,
}

impl CheckKind {
    fn label(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Issuer => "issuer",
            Self::RoleExists => "role exists",
            Self::TrustPolicy => "trust policy",
            Self::DescribeCluster => "eks:DescribeCluster",
            Self::KubernetesMapping => "Kubernetes mapping",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    pub status: Status,
    /// One sentence on the outcome.
    pub message: String,
    /// Reasons and observations behind the outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The commands or snippet that fix a problem or warning, or that check by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn new(kind: CheckKind, status: Status, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    pub(crate) fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// The checks of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleReport {
    pub name: String,
    pub assume_arn: String,
    pub mapped_arn: String,
    pub checks: Vec<Check>,
}

/// How many checks ended with each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub ok: usize,
    pub unchecked: usize,
    pub warning: usize,
    pub problem: usize,
}

/// The setup check of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub cluster_arn: String,
    pub mode: AssumeMode,
    /// `accessConfig.authenticationMode` from DescribeCluster, when it was read.
    pub authentication_mode: Option<String>,
    /// The worst status of all checks.
    pub status: Status,
    pub counts: StatusCounts,
    /// Checks of the cluster and the issuer.
    pub checks: Vec<Check>,
    pub roles: Vec<RoleReport>,
}

impl DoctorReport {
    pub(crate) fn new(
        cluster_arn: String,
        mode: AssumeMode,
        authentication_mode: Option<String>,
        checks: Vec<Check>,
        roles: Vec<RoleReport>,
    ) -> Self {
        let mut counts = StatusCounts::default();
        let mut status = Status::Ok;
        for check in checks
            .iter()
            .chain(roles.iter().flat_map(|r| r.checks.iter()))
        {
            status = status.max(check.status);
            match check.status {
                Status::Ok => counts.ok += 1,
                Status::Unchecked => counts.unchecked += 1,
                Status::Warning => counts.warning += 1,
                Status::Problem => counts.problem += 1,
            }
        }
        Self {
            cluster_arn,
            mode,
            authentication_mode,
            status,
            counts,
            checks,
            roles,
        }
    }

    /// Returns all checks, the cluster's first.
    pub fn all_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .chain(self.roles.iter().flat_map(|role| role.checks.iter()))
    }

    /// Renders the report as text for a terminal, each problem followed by its fix.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let auth_mode = self.authentication_mode.as_deref().unwrap_or("unknown");
        let _ = writeln!(out, "eksgate setup check of {}", self.cluster_arn);
        let _ = writeln!(
            out,
            "assume mode {}, authentication mode {auth_mode}",
            self.mode
        );
        out.push('\n');
        out.push_str("Cluster and issuer\n");
        for check in &self.checks {
            render_check(&mut out, check);
        }
        for role in &self.roles {
            let _ = writeln!(out, "\nRole {} ({})", role.name, role.assume_arn);
            for check in &role.checks {
                render_check(&mut out, check);
            }
        }
        let counts = self.counts;
        let _ = writeln!(
            out,
            "\nResult: {}: {} problem(s), {} warning(s), {} unchecked, {} ok",
            self.status.label(),
            counts.problem,
            counts.warning,
            counts.unchecked,
            counts.ok
        );
        out
    }
}

fn render_check(out: &mut String, check: &Check) {
    let status = format!("[{}]", check.status.label());
    let _ = writeln!(
        out,
        "  {status:<12}{}: {}",
        check.kind.label(),
        check.message
    );
    for detail in &check.details {
        let _ = writeln!(out, "              - {detail}");
    }
    if let Some(fix) = &check.fix {
        let label = if check.status == Status::Unchecked {
            "check by hand:"
        } else {
            "fix:"
        };
        let _ = writeln!(out, "              {label}");
        for line in fix.lines() {
            let _ = writeln!(out, "                {line}");
        }
    }
}
