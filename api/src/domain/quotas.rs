//! The quota service: tiers, a user's tier and own rules, the state of every rule that applies
//! to a user, and the seed's pre-request check. Reading what applies is shared by calls and
//! usage records (`rule_states`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{
    Core, CounterKey, Error, Metric, Money, Principal, QuotaRule, RuleSource, RuleState, StoreError, StoredTier, Tier,
    TierName, TierStore, User, UserChange, UserId,
    quota::{self, ModelScope},
};

/// How long a tier read from the store is reused. Safe to reuse: a reservation planned under an
/// older version of a tier is refused by the store (its guard) and planned again.
const TIER_CACHE: Duration = Duration::from_secs(5);

/// Tiers as last read, and when.
type TierCache = Arc<Mutex<HashMap<TierName, (Option<StoredTier>, Instant)>>>;

#[derive(Clone)]
pub struct Quotas {
    core: Core,
    tiers: Arc<dyn TierStore>,
    cache: TierCache,
}

/// Every rule of a user with its state.
#[derive(Debug, Clone)]
pub struct QuotaStatus {
    pub user: User,
    pub rules: Vec<RuleState>,
}

/// The answer of the pre-request check.
#[derive(Debug, Clone)]
pub struct QuotaCheck {
    pub can_proceed: bool,
    /// The rules that would refuse the request.
    pub reasons: Vec<RuleState>,
    pub status: QuotaStatus,
}

impl Quotas {
    pub(super) fn new(core: Core, tiers: Arc<dyn TierStore>) -> Self {
        Self { core, tiers, cache: Arc::default() }
    }

    /// A tier, from the cache when fresh. `fresh` skips the cache (after a guard refused).
    pub(super) async fn tier(&self, name: &TierName, fresh: bool) -> Result<Option<StoredTier>, Error> {
        if !fresh {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((tier, read)) = cache.get(name)
                && read.elapsed() < TIER_CACHE
            {
                return Ok(tier.clone());
            }
        }
        let tier = self.tiers.tier(name).await.map_err(Error::store)?;
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone(), (tier.clone(), Instant::now()));
        Ok(tier)
    }

    fn forget(&self, name: &TierName) {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
    }

    /// The rules that apply to `user` for a call to `model` (all of them with `every_model`),
    /// each with its counter as stored now, and the user's tier as read.
    pub(super) async fn rule_states(
        &self,
        user: &User,
        model: Option<&str>,
        every_model: bool,
        fresh: bool,
    ) -> Result<(Vec<RuleState>, Option<StoredTier>), Error> {
        let tier = match &user.tier {
            Some(name) => self.tier(name, fresh).await?,
            None => None,
        };
        let tier_rules = tier.as_ref().map_or(&[][..], |t| t.tier.rules.as_slice());
        let prices = &self.core.prices;
        let rules = if every_model {
            let mut all = vec![(QuotaRule::lifetime(user.token_limit), RuleSource::Limit)];
            all.extend(tier_rules.iter().map(|r| (r.clone(), RuleSource::Tier)));
            all.extend(user.quotas.iter().map(|r| (r.clone(), RuleSource::User)));
            all
        } else {
            quota::applicable(user.token_limit, tier_rules, &user.quotas, model, prices)
        };
        let now = self.core.clock.now();
        let keys: Vec<CounterKey> = rules.iter().map(|(rule, _)| rule.counter_key(now)).collect();
        let others: Vec<CounterKey> = keys.iter().filter(|k| !k.is_account()).cloned().collect();
        let mut counters = if others.is_empty() {
            Vec::new()
        } else {
            self.core.accounts.counters(&user.id, &others).await.map_err(|e| Error::from_store(e, &user.id))?
        }
        .into_iter();
        let states = rules
            .into_iter()
            .zip(keys)
            .map(|((rule, source), key)| {
                let counter = if key.is_account() { user.account } else { counters.next().unwrap_or_default() };
                RuleState { window: rule.period.window(now), rule, source, key, counter }
            })
            .collect();
        Ok((states, tier))
    }

    /// Every rule of a user, with its state. Admins, or the user's own key.
    pub async fn status(&self, by: &Principal, id: &UserId) -> Result<QuotaStatus, Error> {
        by.require_user(id)?;
        let user = self.core.user(id).await?;
        let (rules, _) = self.rule_states(&user, None, true, false).await?;
        Ok(QuotaStatus { user, rules })
    }

    /// Whether a request needing `tokens` (and `cost`, or their worst-case cost at `model`'s
    /// prices) would pass every rule that applies, changing nothing.
    pub async fn check(
        &self,
        by: &Principal,
        id: &UserId,
        tokens: u64,
        cost: Option<Money>,
        model: Option<&str>,
    ) -> Result<QuotaCheck, Error> {
        by.require_user(id)?;
        let user = self.core.user(id).await?;
        let model = model.unwrap_or(&self.core.default_model);
        let priced = self.core.priced(model)?;
        let cost = cost.unwrap_or_else(|| priced.prices.worst_case(0, tokens));
        let (applying, _) = self.rule_states(&user, Some(model), false, false).await?;
        let reasons = applying
            .into_iter()
            .filter(|state| {
                let needed = match state.rule.metric {
                    Metric::Tokens => tokens,
                    Metric::Requests => 1,
                    Metric::Cost => cost.nanos(),
                };
                state.remaining() < needed
            })
            .collect::<Vec<_>>();
        let (rules, _) = self.rule_states(&user, None, true, false).await?;
        Ok(QuotaCheck { can_proceed: reasons.is_empty(), reasons, status: QuotaStatus { user, rules } })
    }

    /// Every tier. Admin only.
    pub async fn tiers(&self, by: &Principal) -> Result<Vec<StoredTier>, Error> {
        by.require_admin()?;
        self.tiers.tiers().await.map_err(Error::store)
    }

    /// Creates or replaces a tier. Admin only.
    pub async fn put_tier(&self, by: &Principal, tier: Tier) -> Result<StoredTier, Error> {
        by.require_admin()?;
        quota::check_rules(&tier.rules)?;
        let stored = self.tiers.put_tier(&tier).await.map_err(Error::store)?;
        self.forget(&tier.name);
        Ok(stored)
    }

    /// Deletes a tier no user is on. Admin only.
    pub async fn delete_tier(&self, by: &Principal, name: &TierName) -> Result<(), Error> {
        by.require_admin()?;
        self.tiers.delete_tier(name).await.map_err(|e| match e {
            StoreError::NotFound => Error::TierNotFound(name.clone()),
            StoreError::InUse(users) => Error::TierInUse { tier: name.clone(), users },
            other => Error::store(other),
        })?;
        self.forget(name);
        Ok(())
    }

    /// Puts a user on a tier, or (`None`) off tiers. Admin only.
    pub async fn set_tier(&self, by: &Principal, id: &UserId, tier: Option<TierName>) -> Result<User, Error> {
        by.require_admin()?;
        let change = UserChange::Tier(tier.clone());
        let at = self.core.clock.now();
        let user = self.core.accounts.update_user(id, &change, at).await.map_err(|e| match (e, tier) {
            (StoreError::Refused, Some(tier)) => Error::TierNotFound(tier),
            (other, _) => Error::from_store(other, id),
        })?;
        self.core.changes.publish(id);
        Ok(user)
    }

    /// Sets a user's own rules (replacing the earlier ones). Admin only.
    pub async fn set_quotas(&self, by: &Principal, id: &UserId, rules: Vec<QuotaRule>) -> Result<User, Error> {
        by.require_admin()?;
        quota::check_rules(&rules)?;
        self.core.change_user(id, &UserChange::Quotas(rules)).await
    }

    /// Parses a rule's model scope against the price list.
    pub fn scope(&self, raw: &str) -> Result<ModelScope, Error> {
        Ok(ModelScope::parse("model", raw, &self.core.prices)?)
    }

    /// The price list rules are checked against.
    pub fn prices(&self) -> &super::PriceList {
        &self.core.prices
    }
}
