//! What every domain service shares: the clock, the stores, the prices, the announcements of
//! changes, the retention of events and the service's own counters.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{
    AccountStore, Error, EventId, EventKind, EventStore, Metrics, PriceList, Priced, SharedClock, Timestamp,
    TokenUsage, UsageEvent, User, UserChange, UserId, ValidationError, live::Changes,
};

#[derive(Clone)]
pub struct Core {
    pub(super) clock: SharedClock,
    pub(super) accounts: Arc<dyn AccountStore>,
    pub(super) events: Arc<dyn EventStore>,
    pub(super) prices: PriceList,
    /// The model a call goes to when it names none.
    pub(super) default_model: String,
    pub(super) changes: Changes,
    /// How long events are kept.
    pub(super) retention: Duration,
    pub(super) metrics: Metrics,
    /// Cancelled when the service is told to stop: live views end, the server drains.
    pub(super) stopping: CancellationToken,
}

/// Everything [`Core`] is built from.
pub struct CoreParts {
    pub clock: SharedClock,
    pub accounts: Arc<dyn AccountStore>,
    pub events: Arc<dyn EventStore>,
    pub prices: PriceList,
    pub default_model: String,
    pub retention: Duration,
}

impl Core {
    pub fn new(parts: CoreParts) -> Self {
        let CoreParts { clock, accounts, events, prices, default_model, retention } = parts;
        Self {
            clock,
            accounts,
            events,
            prices,
            default_model,
            retention,
            changes: Changes::default(),
            metrics: Metrics::default(),
            stopping: CancellationToken::new(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Cancelled when the service is told to stop (SIGTERM, Ctrl-C).
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    pub fn store_kind(&self) -> &'static str {
        self.accounts.kind()
    }

    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    pub fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// A user who must exist.
    pub(super) async fn user(&self, id: &UserId) -> Result<User, Error> {
        let found = self.accounts.user(id).await.map_err(|e| Error::from_store(e, id))?;
        found.ok_or_else(|| Error::UserNotFound(id.clone()))
    }

    /// Applies a change to a user's rules and announces it.
    pub(super) async fn change_user(&self, id: &UserId, change: &UserChange) -> Result<User, Error> {
        let user = self.accounts.update_user(id, change, self.now()).await.map_err(|e| Error::from_store(e, id))?;
        self.changes.publish(id);
        Ok(user)
    }

    /// The price of a call to `model`, which must be on the price list.
    pub(super) fn priced(&self, model: &str) -> Result<Priced, Error> {
        self.prices.price(model).ok_or_else(|| {
            let reason = format!("is not a model with a price; use one of {}", self.prices.describe_choices());
            Error::Invalid(ValidationError::new("model", reason))
        })
    }

    /// A new event of `kind` for `user`, at the current time, kept for the retention period.
    pub(super) fn event(&self, user: &UserId, model: &str, kind: EventKind) -> UsageEvent {
        let at = self.now();
        UsageEvent {
            id: EventId::generate(at),
            at,
            user: user.clone(),
            model: model.to_owned(),
            kind,
            outcome: None,
            usage: TokenUsage::default(),
            cost: super::Money::ZERO,
            latency_ms: 0,
            time_to_first_token_ms: None,
            blocked_by: None,
            expires_at: at.plus(self.retention),
        }
    }
}
