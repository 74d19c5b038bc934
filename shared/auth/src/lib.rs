//! Caller identity from JWT claims, and bearer JWT verification.
//!
//! Behind an API Gateway HTTP API with a JWT authorizer, take the verified claims with
//! [`claims::jwt_authorizer_claims`] and build the caller with
//! [`claims::identity_from_claims`]. Without such an authorizer (a Lambda Function URL, a
//! local run), take the token with [`claims::bearer_token`], verify it with
//! [`jwt::JwtVerifier`], and pass the returned claims to the same function.

pub mod claims;
mod error;
pub mod jwt;

pub use claims::{
    ClaimsConfig, Identity, bearer_token, identity_from_claims, jwt_authorizer_claims,
};
pub use error::{AuthError, AuthErrorKind};
pub use jwt::{Algorithm, JwksSource, JwtVerifier, VerifierConfig};
