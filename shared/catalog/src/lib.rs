//! The eksgate catalog: EKS clusters and their roles, stored in the one DynamoDB table.
//!
//! See [`layout`] for the item layout of the whole table. Every write to a cluster is
//! optimistic: it states the `observed_at` of the item it read, so a writer holding an older
//! observation can never replace a newer one, and a writer that raced another re-reads and
//! plans again.

pub mod access;
pub mod layout;
mod model;
mod plan;
mod store;

pub use model::{CatalogEntry, ClusterRecord, RoleRecord, Stored};
pub use plan::{Desired, Plan, WritePolicy, plan};
pub use store::{ApplyOutcome, Catalog, CatalogError};
