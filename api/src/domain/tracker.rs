//! The user service: creating, reading, re-limiting and deleting users, and recording usage
//! that happened elsewhere. Every operation asks the caller's [`Principal`] first.

use futures::Stream;

use super::{
    Amounts, Answer, Core, CounterCharge, Error, EventKind, IdempotencyClaim, IdempotencyKey, IdempotencyRecord,
    IdempotencyState, IssuedKey, KeyLabel, Keys, Principal, Quotas, Recording, Role, StoreError, TierName, TokenCount,
    TokenLimit, TokenUsage, User, UserChange, UserId, ValidationError, events::NO_MODEL, live::Live,
};

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: UserId,
    pub limit: TokenLimit,
    /// The user's tier (the configured default tier when `None`).
    pub tier: Option<TierName>,
    /// Also issue the user's first API key.
    pub issue_key: bool,
}

/// Usage that happened elsewhere: its tokens, and optionally their split and the model, so
/// that its cost is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub tokens: TokenCount,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub model: Option<String>,
}

impl Usage {
    /// Usage whose input and output, when both are given, add up to the total.
    pub fn new(
        tokens: TokenCount,
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        model: Option<String>,
    ) -> Result<Self, ValidationError> {
        if let (Some(input), Some(output)) = (input_tokens, output_tokens)
            && input.checked_add(output) != Some(tokens.get())
        {
            return Err(ValidationError::new(
                "tokensConsumed",
                format!("must equal inputTokens + outputTokens ({input} + {output}), got {}", tokens.get()),
            ));
        }
        for (field, part) in [("inputTokens", input_tokens), ("outputTokens", output_tokens)] {
            if part.is_some_and(|part| part > tokens.get()) {
                return Err(ValidationError::new(field, format!("must not exceed tokensConsumed ({})", tokens.get())));
            }
        }
        Ok(Self { tokens, input_tokens, output_tokens, model })
    }

    /// The split the record is priced by: what was given, the rest as input.
    fn split(&self) -> TokenUsage {
        let total = self.tokens.get();
        let output = self.output_tokens.unwrap_or_else(|| total - self.input_tokens.unwrap_or(total));
        TokenUsage { input: total - output, output, ..TokenUsage::default() }
    }
}

/// The token-accounting service for users.
#[derive(Clone)]
pub struct Tracker {
    core: Core,
    keys: Keys,
    quotas: Quotas,
    live: Live,
    default_tier: Option<TierName>,
}

impl Tracker {
    pub(super) fn new(core: Core, keys: Keys, quotas: Quotas, default_tier: Option<TierName>) -> Self {
        let live = Live::new(core.clone(), keys.clone());
        Self { core, keys, quotas, live, default_tier }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Creates a user and, when asked, issues the user's first API key. With `key`, a retry
    /// within 24 hours answers the user without creating anything (and without a new key).
    pub async fn create_user(
        &self,
        by: &Principal,
        new: NewUser,
        key: Option<IdempotencyKey>,
    ) -> Result<Answer<(User, Option<IssuedKey>)>, Error> {
        by.require_admin()?;
        let now = self.core.now();
        let mut user = User::new(new.id.clone(), new.limit, now);
        user.tier = new.tier.clone().or_else(|| self.default_tier.clone());
        let request = serde_json::json!([
            new.id.as_str(),
            new.limit.get(),
            user.tier.as_ref().map(TierName::as_str),
            new.issue_key
        ]);
        let claim = key.map(|key| IdempotencyClaim::new("users".into(), key, &request.to_string(), now));
        let outcome = serde_json::json!({ "userId": new.id.as_str() });
        let inserted = self.core.accounts.insert_user(&user, claim.as_ref().map(|c| (c, &outcome))).await;
        match inserted {
            Ok(()) => {}
            Err(StoreError::Claimed(record)) => {
                let claim = claim.as_ref().ok_or_else(|| Error::Internal("a claim without a key".into()))?;
                replayable(claim, &record)?;
                return Ok(Answer::replayed((self.core.user(&new.id).await?, None)));
            }
            Err(StoreError::NotFound) => {
                let tier = user.tier.clone().ok_or_else(|| Error::Internal("a missing tier without a tier".into()))?;
                return Err(Error::TierNotFound(tier));
            }
            Err(err) => return Err(Error::from_store(err, &user.id)),
        }
        self.core.changes.publish(&user.id);
        let key = match new.issue_key {
            true => {
                let label = KeyLabel::parse("label", &format!("{} (at creation)", user.id))?;
                Some(self.keys.issue(by, Role::User(user.id.clone()), Some(label)).await?)
            }
            false => None,
        };
        Ok(Answer::fresh((user, key)))
    }

    /// Issues an API key; a user key needs an existing user.
    pub async fn issue_key(&self, by: &Principal, role: Role, label: Option<KeyLabel>) -> Result<IssuedKey, Error> {
        self.keys.issue(by, role, label).await
    }

    pub async fn user(&self, by: &Principal, id: &UserId) -> Result<User, Error> {
        by.require_user(id)?;
        self.core.user(id).await
    }

    pub async fn users(&self, by: &Principal) -> Result<Vec<User>, Error> {
        by.require_admin()?;
        self.core.accounts.users().await.map_err(Error::store)
    }

    pub async fn update_limit(&self, by: &Principal, id: &UserId, limit: TokenLimit) -> Result<User, Error> {
        by.require_admin()?;
        self.core.change_user(id, &UserChange::Limit(limit)).await
    }

    /// Deletes a user with their counters and revokes their keys in the same step, so a user
    /// re-created later under the same ID does not inherit them.
    pub async fn delete_user(&self, by: &Principal, id: &UserId) -> Result<(), Error> {
        by.require_admin()?;
        self.core.accounts.delete_user(id, self.core.now()).await.map_err(|e| Error::from_store(e, id))?;
        self.core.changes.publish(id);
        Ok(())
    }

    /// Records usage that already happened (the seed contract's "record usage"), in every
    /// period it counts in. It is a fact, so it is recorded even past the limit or a quota. It
    /// carries a cost only when it names its model. With `key`, a retry within 24 hours is
    /// counted once.
    pub async fn record_usage(
        &self,
        by: &Principal,
        id: &UserId,
        usage: Usage,
        key: Option<IdempotencyKey>,
    ) -> Result<Answer<User>, Error> {
        by.require_user(id)?;
        let core = &self.core;
        let (model, cost) = match &usage.model {
            Some(model) => (model.as_str(), core.priced(model)?.prices.cost(usage.split())),
            None => (NO_MODEL, super::Cost::default()),
        };
        let user = core.user(id).await?;
        let (states, _) = self.quotas.rule_states(&user, usage.model.as_deref(), false, false).await?;
        let now = core.now();
        let counters = states
            .iter()
            .filter(|state| !state.key.is_account())
            .map(|state| CounterCharge {
                key: state.key.clone(),
                ceiling: Default::default(),
                expires_at: state.key.expires_at(now),
            })
            .fold(Vec::<CounterCharge>::new(), |mut all, charge| {
                if !all.iter().any(|c| c.key == charge.key) {
                    all.push(charge);
                }
                all
            });
        let mut event = core.event(id, model, EventKind::Record);
        event.usage = match usage.model {
            Some(_) => usage.split(),
            None => TokenUsage { input: usage.tokens.get(), ..TokenUsage::default() },
        };
        event.cost = cost.total;
        let request = serde_json::json!([usage.tokens.get(), usage.input_tokens, usage.output_tokens, usage.model]);
        let claim = key.map(|key| IdempotencyClaim::new(format!("usage:{id}"), key, &request.to_string(), now));
        let recording = Recording {
            user: id.clone(),
            amounts: Amounts { tokens: usage.tokens.get(), requests: 0, cost: cost.total },
            account: Default::default(),
            counters,
            event,
            idempotency: claim.clone(),
        };
        let recorded = core.accounts.record(&recording).await;
        let user = match recorded {
            Ok(user) => user,
            Err(StoreError::Claimed(record)) => {
                let claim = claim.as_ref().ok_or_else(|| Error::Internal("a claim without a key".into()))?;
                replayable(claim, &record)?;
                return Ok(Answer::replayed(core.user(id).await?));
            }
            Err(StoreError::Overflow) => {
                return Err(Error::UsageOverflow { user: id.clone(), tokens: usage.tokens.get() });
            }
            Err(err) => return Err(Error::from_store(err, id)),
        };
        core.metrics.model_call(
            model,
            "recorded",
            recording.event.usage.all_input(),
            recording.event.usage.output,
            cost.total.nanos(),
        );
        core.changes.publish(id);
        Ok(Answer::fresh(user))
    }

    /// One user's snapshots as they change: the current one first, then one per change made
    /// through any instance sharing the store. Ends when the user is deleted or the key stops
    /// working. Admins, or the user's own key.
    pub async fn watch_user(
        &self,
        by: &Principal,
        id: &UserId,
    ) -> Result<impl Stream<Item = User> + Send + 'static, Error> {
        let first = self.user(by, id).await?;
        Ok(self.live.user(by, first))
    }

    /// The whole user list first, then what changed. Admin only.
    pub async fn watch_users(
        &self,
        by: &Principal,
    ) -> Result<impl Stream<Item = super::live::ListChange> + Send + 'static, Error> {
        let first = self.users(by).await?;
        Ok(self.live.list(by, first))
    }
}

/// Whether a retry may be answered from `record`: same request, applied.
fn replayable(claim: &IdempotencyClaim, record: &IdempotencyRecord) -> Result<(), Error> {
    if record.claim.fingerprint != claim.fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    match record.state {
        IdempotencyState::Applied(_) => Ok(()),
        IdempotencyState::Pending => Err(Error::IdempotencyInProgress),
    }
}
