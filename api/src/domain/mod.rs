//! The rules of token accounting, free of HTTP, storage and model-provider details.
//!
//! Services ([`Tracker`], [`Invocations`], [`Quotas`], [`Keys`], …) hold every rule; values that
//! reach them are validated types ([`UserId`], [`TokenLimit`], [`Prompt`], [`QuotaRule`], …), so a
//! store only ever sees well-formed data. Every operation takes the caller's [`Principal`] and
//! checks it first. The stores are ports the domain owns ([`AccountStore`], [`KeyStore`],
//! [`TierStore`], [`EventStore`]); time comes from an injected [`Clock`].

mod access;
mod alerts;
mod clock;
mod context;
mod conversations;
mod error;
mod error_code;
mod events;
mod guests;
mod idempotency;
mod invoke;
mod keys;
mod ledger;
pub mod live;
mod metrics;
mod model;
mod money;
mod outage;
mod pricing;
pub mod quota;
mod quotas;
mod reports;
mod store;
mod time;
mod tracker;
mod user;
mod values;

use std::{sync::Arc, time::Duration};

pub use access::{Bootstrap, Principal};
pub use alerts::{
    AlertMetric, AlertRule, AlertTarget, Alerts, Comparison, Firing, FiringState, Notification, NotificationState,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use context::{Core, CoreParts};
pub use conversations::{
    Appended, Conversation, ConversationId, ConversationStore, ConversationSummary, ConversationTurn, Conversations,
    MAX_CONVERSATIONS, MAX_KEPT_CHARS, MAX_TITLE_CHARS, MAX_TURNS as MAX_CONVERSATION_TURNS, TurnUsage, parse_title,
};
pub use error::{Error, Refusal, StoreError};
pub use error_code::ErrorCode;
pub use events::{EventId, EventKind, EventQuery, LATENCY_BUCKETS_MS, NO_MODEL, Rollup, Totals, UsageEvent};
pub use guests::{GuestSettings, Guests, NewGuest};
pub use idempotency::{Answer, IDEMPOTENCY_TTL, IdempotencyClaim, IdempotencyKey, IdempotencyRecord, IdempotencyState};
pub use invoke::{Invocation, Invocations, InvokeSettings, LeaseSettings, Limits, Prompt, StartedStream, StreamItem};
pub use keys::{ApiKey, IssuedKey, KeyId, Keys, Role, StartupAdminKey};
pub use ledger::{
    Amounts, Ceiling, Counter, CounterCharge, Guards, Hold, HoldId, Recording, Release, Reservation, Settlement,
};
pub use metrics::{Histogram, Metrics, MetricsSnapshot, SECONDS_BUCKETS};
pub use model::{ModelError, ModelEvent, ModelProvider, ModelReply, ModelRequest, ModelStream, Speaker, Turn};
pub use money::Money;
pub use outage::{FailOpen, OutagePolicy, Outbox, OutboxEntry};
pub use pricing::{Cost, ModelPrice, PriceList, Priced, TokenPrices, TokenUsage};
pub use quota::{CounterKey, Metric, ModelScope, Period, QuotaRule, RuleSource, RuleState, Tier, plan};
pub use quotas::{QuotaCheck, QuotaStatus, Quotas};
pub use reports::{
    EventOrder, Granularity, ModelUsage, MonitoringSettings, Projection, ReportBucket, ReportQuery, Reports,
    UsageReport,
};
pub use store::{AccountStore, AlertStore, EventStore, FIRING_RETENTION, KeyStore, StoredTier, TierStore, UserChange};
pub use time::{InvalidTimestamp, Timestamp};
pub use tracker::{NewUser, Tracker, Usage};
pub use user::User;
pub use values::{KeyLabel, MAX_TOKENS, TierName, TokenCount, TokenLimit, UserId, ValidationError};

/// The stores the services run on; one store usually serves them all.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Arc<dyn AccountStore>,
    pub keys: Arc<dyn KeyStore>,
    pub tiers: Arc<dyn TierStore>,
    pub events: Arc<dyn EventStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub conversations: Arc<dyn ConversationStore>,
}

impl Stores {
    /// Every port served by one store.
    pub fn of<S: AccountStore + KeyStore + TierStore + EventStore + AlertStore + ConversationStore>(
        store: Arc<S>,
    ) -> Self {
        Self {
            accounts: store.clone(),
            keys: store.clone(),
            tiers: store.clone(),
            events: store.clone(),
            alerts: store.clone(),
            conversations: store,
        }
    }
}

/// How the services behave, from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub invoke: InvokeSettings,
    /// The model a call goes to when it names none.
    pub default_model: String,
    /// The tier new users are put on when their creation names none.
    pub default_tier: Option<TierName>,
    /// How long usage events (and roll-ups) are kept.
    pub event_retention: Duration,
    pub guests: GuestSettings,
    pub monitoring: MonitoringSettings,
}

/// Every domain service, built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub core: Core,
    pub tracker: Tracker,
    pub invocations: Invocations,
    pub quotas: Quotas,
    pub guests: Guests,
    pub reports: Reports,
    pub alerts: Alerts,
    pub conversations: Conversations,
}

/// What the services are built from.
pub struct Parts {
    pub stores: Stores,
    pub provider: Arc<dyn ModelProvider>,
    pub prices: PriceList,
    pub clock: SharedClock,
    pub startup_admin: Option<StartupAdminKey>,
    pub settings: Settings,
    /// Where alert notifications go (none: they are only listed).
    pub alert_targets: Vec<Arc<dyn AlertTarget>>,
}

impl Services {
    pub fn new(parts: Parts) -> Self {
        let Parts { stores, provider, prices, clock, startup_admin, settings, alert_targets } = parts;
        let core = Core::new(CoreParts {
            clock: clock.clone(),
            accounts: stores.accounts.clone(),
            events: stores.events.clone(),
            prices,
            default_model: settings.default_model.clone(),
            retention: settings.event_retention,
        });
        let keys = Keys::new(stores.keys.clone(), startup_admin, clock);
        let quotas = Quotas::new(core.clone(), stores.tiers.clone());
        let guests = Guests::new(core.clone(), keys.clone(), settings.guests);
        let tracker = Tracker::new(core.clone(), keys, quotas.clone(), settings.default_tier);
        let invocations = Invocations::new(core.clone(), quotas.clone(), provider, settings.invoke);
        let reports = Reports::new(core.clone(), settings.monitoring);
        let alerts = Alerts::new(core.clone(), quotas.clone(), stores.alerts.clone(), alert_targets);
        let conversations = Conversations::new(core.clone(), stores.conversations.clone(), invocations.clone());
        Self { core, tracker, invocations, quotas, guests, reports, alerts, conversations }
    }
}
