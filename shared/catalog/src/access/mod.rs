//! The access workflow: requests and the grants they become, session records and audit
//! records, in the same table as the catalog.
//!
//! A request item carries its whole life: pending, then approved (a grant), denied, cancelled,
//! ended or revoked. Every change is a conditional write on the status that the writer read,
//! so two approvers, or an approval racing a revocation, cannot both succeed.

mod model;
mod store;

pub use model::{AccessRequest, AuditRecord, Decision, RequestState, RequestStatus, SessionRecord};
pub use store::{AccessStore, Change, InvalidCursor, MAX_PAGE_SIZE, Page, Paged};
