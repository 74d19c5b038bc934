//! The session issuer: the HTTP API through which developers see the catalog, request access,
//! approvers decide, and granted users get role credentials, an EKS token and a kubeconfig.
//!
//! Every response is built by [`App::handle`]; no request, whatever its shape, makes the
//! function fail. The caller's identity comes from claims that were verified before they are
//! read: by the API Gateway JWT authorizer, or by this function in self-verifying mode.

mod app;
mod config;
mod connect;
mod duration;
mod http;
mod routes;
mod session_name;
mod sts;
mod verify;
mod views;
mod workflow;

pub use app::{App, now_ms};
pub use config::{AssumeMode, AutoApproveRule, Config, ConfigError, JwtSettings};
pub use duration::{format_duration, parse_duration};
pub use http::MAX_BODY_BYTES;
pub use routes::ROUTES;
pub use session_name::session_name;
pub use sts::RoleCredentials;
pub use workflow::AUTO_APPROVER;
