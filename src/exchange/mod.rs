//! The gateway's use cases, between the transport (`api`) and the domain: it owns the
//! gateway's state (registry and policy in force, catalogue, store, keys, open connections)
//! and does what partners, officers and operators ask of it, each use case in its own room:
//!
//! - [`callers`]: who is calling (certificate → partner, token → person, role).
//! - [`send`]: envelope → authorize → filter → the signal and its audit trail → store.
//! - [`deliveries`]: the stream of a recipient's deliveries, acknowledgements, expiry.
//! - [`registry_changes`] with [`lifecycle`] and `partner_details`: operators' changes, reloads,
//!   the registry watch.
//! - [`audit_reading`]: the officers' queries, verification and export.
//! - [`subject_report`]: a case's or person's timeline, for the officer or the data subject.
//! - [`sign_in`]: an officer or a monitor signing in to the console with a token alone.
//! - [`daily`]: exchanges and refusals per day, for the console's chart.
//! - [`disclosure`]: which items every report to a data subject holds back, and releases.
//! - [`retention`]: removing audit records past their retention.
//! - [`monitoring`]: the programme monitor's counters of each accepted signal and its reports.
//! - [`jobs`]: the background jobs that run the above on a schedule.
//!
//! Nothing here knows tonic or prost; refusals are [`ExchangeError`]s that `api` maps to a
//! status in one place.

pub mod audit_reading;
pub mod callers;
pub mod daily;
pub mod deliveries;
pub mod disclosure;
pub mod envelope;
mod error;
pub mod jobs;
pub mod lifecycle;
pub mod limits;
pub mod monitoring;
mod officers;
mod partner_details;
pub mod registry_changes;
pub mod retention;
pub mod send;
pub mod sign_in;
pub mod stream;
pub mod subject_report;
pub mod timeline;

use std::{path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

pub use error::ExchangeError;

use limits::{Backlog, PartnerSlots, SendLimits};
use retention::Forgetting;

use crate::{
    audit::{Subject, keys::SubjectKeys},
    catalogue::Catalogue,
    clock::Clock,
    identity::{
        connections::Connections,
        person::TokenRules,
        tls::{SharedServerConfig, TlsFiles},
    },
    policy::Policy,
    registry::{Registry, SharedRegistry},
    store::{Store, wakeups::Notifier},
};

/// The gateway's state, shared by every request and background job.
pub struct Exchange {
    registry: SharedRegistry,
    policy: ArcSwap<Policy>,
    policy_file: PathBuf,
    catalogue: Arc<Catalogue>,
    store: Store,
    notifier: Arc<Notifier>,
    subject_keys: SubjectKeys,
    tokens: TokenRules,
    connections: Arc<Connections>,
    tls: TlsFiles,
    tls_config: SharedServerConfig,
    shutdown: CancellationToken,
    clock: Clock,
    max_message_bytes: usize,
    forgetting: Forgetting,
    lease: std::time::Duration,
    instance: String,
    streams: Arc<PartnerSlots>,
    /// The limits on each partner's `Send` calls.
    sends: SendLimits,
    /// Deliveries waiting per receiver.
    backlog: Backlog,
}

/// What an [`Exchange`] is made of; `server` assembles it at start-up.
pub struct Parts {
    /// The partner registry in force (shared with the TLS verifier).
    pub registry: SharedRegistry,
    /// The policy in force.
    pub policy: Policy,
    /// The file the policy is read from, for reloads.
    pub policy_file: PathBuf,
    /// The signal catalogue.
    pub catalogue: Arc<Catalogue>,
    /// The store.
    pub store: Store,
    /// Subscriber wake-ups, fired by the store.
    pub notifier: Arc<Notifier>,
    /// Keys for the keyed hashes of case references and subject identifiers.
    pub subject_keys: SubjectKeys,
    /// What every JWT must satisfy: audience, longest lifetime.
    pub tokens: TokenRules,
    /// Open partner connections, to close those whose certificate is no longer accepted.
    pub connections: Arc<Connections>,
    /// Where the trust anchors and the gateway's certificate are (for reloads and vetting).
    pub tls: TlsFiles,
    /// The TLS configuration in force.
    pub tls_config: SharedServerConfig,
    /// Cancelled when the gateway shuts down; ends open streams and background jobs.
    pub shutdown: CancellationToken,
    /// Where the use cases read the time.
    pub clock: Clock,
    /// Largest accepted `Send` request, in bytes.
    pub max_message_bytes: usize,
    /// How long acknowledged copies and settled signals are kept.
    pub forgetting: Forgetting,
    /// How long a streamed delivery is leased to its stream.
    pub lease: std::time::Duration,
    /// The most `Subscribe` streams one partner endpoint may hold open on this gateway.
    pub max_subscriptions_per_partner: usize,
    /// The limits on each partner's `Send` calls.
    pub sends: SendLimits,
    /// The most deliveries that may wait for one receiver.
    pub max_pending_per_receiver: u64,
}

// === impl Exchange ===

impl Exchange {
    /// The gateway's state from its parts.
    pub fn new(parts: Parts) -> Self {
        Self {
            registry: parts.registry,
            policy: ArcSwap::from_pointee(parts.policy),
            policy_file: parts.policy_file,
            catalogue: parts.catalogue,
            store: parts.store,
            notifier: parts.notifier,
            subject_keys: parts.subject_keys,
            tokens: parts.tokens,
            connections: parts.connections,
            tls: parts.tls,
            tls_config: parts.tls_config,
            shutdown: parts.shutdown,
            clock: parts.clock,
            max_message_bytes: parts.max_message_bytes,
            forgetting: parts.forgetting,
            lease: parts.lease,
            streams: PartnerSlots::new(parts.max_subscriptions_per_partner),
            sends: parts.sends,
            backlog: Backlog::new(parts.max_pending_per_receiver),
            // Names this gateway's streams in their leases, so that a graceful stop ends them.
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The registry in force.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// The signal catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where the use cases read the time (the console's sessions expire by it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The keyed hash of a case reference, as the audit log stores it.
    pub fn case_subject(&self, case_ref: &str) -> Subject {
        Subject {
            case_ref_hash: Some(self.subject_keys.hash(case_ref)),
            subject_key_id: Some(self.subject_keys.active_id().to_string()),
            ..Subject::default()
        }
    }
}
