//! Ending a call: settle what it used (with its event, in one step), or release its hold; and
//! the rare call whose hold was lost, charged at most what is free so no limit is passed.

use std::time::Duration;

use super::{Invocation, Invocations, Limits, Remembered, admit::Reserved};
use crate::domain::{
    Amounts, CounterCharge, Error, ErrorCode, Metric, ModelError, Money, Recording, Release, Settlement, StoreError,
    TokenUsage, UsageEvent, User, quota::ceilings,
};

/// Pauses between attempts to settle a finished call while the store is unavailable.
const SETTLE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(400), Duration::from_secs(1)];
/// Attempts to charge a call whose hold was lost, against concurrent changes.
const LOST_HOLD_ATTEMPTS: usize = 5;

impl Invocations {
    /// The event of a reserved call that ended with `outcome`.
    fn call_event(&self, reserved: &Reserved, outcome: Option<ErrorCode>) -> UsageEvent {
        let mut event = self.0.core.event(&reserved.user, &reserved.request.model_id, reserved.kind);
        event.outcome = outcome;
        event.latency_ms = reserved.started.elapsed().as_millis() as u64;
        event
    }

    /// Charges what the call used to every counter it held, with its event, and answers it.
    pub(super) async fn settle(
        &self,
        reserved: &Reserved,
        text: String,
        usage: TokenUsage,
        stop_reason: String,
        first_text: Option<Duration>,
        model_time: Duration,
    ) -> Result<Invocation, Error> {
        let core = &self.0.core;
        let cost = reserved.priced.prices.cost(usage);
        let used = Amounts { tokens: usage.total(), requests: 1, cost: cost.total };
        let mut event = self.call_event(reserved, None);
        event.usage = usage;
        event.cost = cost.total;
        event.time_to_first_token_ms = first_text.map(|t| t.as_millis() as u64);
        let remembered = Remembered {
            text,
            usage,
            cost,
            model_id: reserved.request.model_id.clone(),
            provider: self.0.provider.name().to_owned(),
            stop_reason,
            max_output_tokens: reserved.request.max_output_tokens,
        };
        let outcome = serde_json::to_value(&remembered).map_err(|e| Error::Internal(e.to_string()))?;
        let user = if reserved.in_outage {
            self.settle_to_outbox(reserved, used, event, outcome)?
        } else {
            self.settle_in_store(reserved, used, event, outcome).await?
        };
        core.changes.publish(&reserved.user);
        core.metrics.model_call(&reserved.request.model_id, "ok", usage.all_input(), usage.output, cost.total.nanos());
        core.metrics.added_latency(reserved.started.elapsed().saturating_sub(model_time));
        Ok(Invocation {
            text: remembered.text,
            usage,
            cost,
            user,
            model_id: remembered.model_id,
            provider: remembered.provider,
            stop_reason: remembered.stop_reason,
            max_output_tokens: remembered.max_output_tokens,
            limits: Limits::tightest(&reserved.rules, used, core.now()),
        })
    }

    /// Charges the call's hold in the store (or, if the hold was lost, what is free).
    async fn settle_in_store(
        &self,
        reserved: &Reserved,
        used: Amounts,
        event: UsageEvent,
        outcome: serde_json::Value,
    ) -> Result<User, Error> {
        if let Some(ticket) = &reserved.lease {
            let claim = reserved.claim.clone().map(|claim| (claim, outcome.clone()));
            let settled = ticket.settle(used, event.clone(), claim).await;
            self.0.core.metrics.hold_ended();
            return match settled {
                Ok(user) => Ok(user),
                Err(StoreError::HoldGone) => self.charge_lost_hold(reserved, used, event, &outcome).await,
                Err(err) => Err(Error::from_store(err, &reserved.user)),
            };
        }
        let settlement = Settlement {
            user: reserved.user.clone(),
            hold: reserved.hold.clone(),
            used,
            at: event.at,
            events: vec![event.clone()],
            keep: None,
            claims: reserved.claim.clone().map(|claim| (claim, outcome.clone())).into_iter().collect(),
        };
        let settled = self.settle_with_retries(&settlement).await;
        self.0.core.metrics.hold_ended();
        match settled {
            Ok(user) => Ok(user),
            Err(StoreError::HoldGone) => self.charge_lost_hold(reserved, used, event, &outcome).await,
            Err(err) => {
                tracing::error!(user = %reserved.user, tokens = used.tokens, error = %err, "could not charge a finished call");
                Err(Error::from_store(err, &reserved.user))
            }
        }
    }

    /// The model has answered and the provider bills it: a store hiccup now must not lose the
    /// charge, so settlement is retried a few times before giving up.
    pub(super) async fn settle_with_retries(&self, settlement: &Settlement) -> Result<User, StoreError> {
        let mut pauses = SETTLE_RETRIES.iter();
        loop {
            match self.0.core.accounts.settle(settlement).await {
                Err(StoreError::Unavailable(why)) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(user = %settlement.user, error = %why, "settlement failed; retrying");
                        tokio::time::sleep(*pause).await;
                    }
                    None => return Err(StoreError::Unavailable(why)),
                },
                other => return other,
            }
        }
    }

    /// Settles a call whose hold was released while it ran (its instance could not renew it in
    /// time): the call is charged what is free under every rule that applies, never more, and
    /// what it used beyond that is logged and counted as a loss.
    async fn charge_lost_hold(
        &self,
        reserved: &Reserved,
        used: Amounts,
        mut event: UsageEvent,
        outcome: &serde_json::Value,
    ) -> Result<User, Error> {
        let core = &self.0.core;
        let id = &reserved.user;
        for _ in 0..LOST_HOLD_ATTEMPTS {
            let user = core.user(id).await?;
            let model = Some(reserved.request.model_id.as_str());
            let (states, _) = self.0.quotas.rule_states(&user, model, false, true).await?;
            let mut free = used;
            for state in &states {
                let left = state.remaining();
                match state.rule.metric {
                    Metric::Tokens => free.tokens = free.tokens.min(left),
                    Metric::Requests => free.requests = free.requests.min(left),
                    Metric::Cost => free.cost = free.cost.min(Money::from_nanos(left)),
                }
            }
            event.usage = trimmed(event.usage, free.tokens);
            event.cost = free.cost;
            let mut account = Default::default();
            let mut counters = Vec::new();
            for (key, mut ceiling) in ceilings(&states) {
                // Adding nothing passes no limit, even one already passed (by recorded usage).
                ceiling.only_where_adding(free);
                if key.is_account() {
                    account = ceiling;
                } else {
                    let expires_at = key.expires_at(core.now());
                    counters.push(CounterCharge { key, ceiling, expires_at });
                }
            }
            let recording = Recording {
                user: id.clone(),
                amounts: free,
                account,
                counters,
                event: event.clone(),
                idempotency: None,
            };
            match core.accounts.record(&recording).await {
                Ok(after) => {
                    let lost = used.tokens - free.tokens;
                    core.metrics.settlement_loss(lost);
                    tracing::error!(
                        user = %id, hold = %reserved.hold.id, used = used.tokens, charged = free.tokens, lost,
                        "a call outlived its hold: charged only what was free, so no limit was passed"
                    );
                    if let Some(claim) = &reserved.claim
                        && let Err(err) = core.accounts.complete_idempotency(claim, outcome).await
                    {
                        tracing::warn!(user = %id, error = %err, "could not store an idempotent call's answer");
                    }
                    return Ok(after);
                }
                Err(StoreError::Refused) => continue,
                Err(err) => return Err(Error::from_store(err, id)),
            }
        }
        Err(Error::StoreUnavailable("could not charge a call whose hold was lost: too many concurrent changes".into()))
    }

    /// Releases the hold of a call that failed and returns the error to answer.
    pub(super) async fn fail(&self, reserved: &Reserved, err: ModelError) -> Error {
        tracing::warn!(user = %reserved.user, error = %err, "model call failed; nothing charged");
        let error = Error::Model(err);
        self.release(reserved, Some(error.code())).await;
        error
    }

    /// Releases a hold with the call's event. If the store cannot be reached, the hold expires
    /// and a sweeper releases it later.
    pub(super) async fn release(&self, reserved: &Reserved, outcome: Option<ErrorCode>) {
        let core = &self.0.core;
        core.metrics.hold_ended();
        if reserved.in_outage {
            self.0.outage.give_back(reserved.hold.amounts.tokens);
            if let Some(claim) = &reserved.claim {
                self.0.outage.unclaim(claim);
            }
            return;
        }
        let code = outcome.map_or("ok", ErrorCode::as_str);
        core.metrics.model_call(&reserved.request.model_id, code, 0, 0, 0);
        if let Some(ticket) = &reserved.lease {
            ticket.release(self.call_event(reserved, outcome));
            return;
        }
        let release = Release {
            user: reserved.user.clone(),
            hold: reserved.hold.clone(),
            expired_before: None,
            event: Some(self.call_event(reserved, outcome)),
            idempotency: reserved.claim.clone(),
        };
        match core.accounts.release(&release).await {
            Ok(_) => core.changes.publish(&reserved.user),
            Err(err) => {
                let hold = &reserved.hold.id;
                tracing::error!(user = %reserved.user, %hold, error = %err, "could not release a hold; it will expire");
            }
        }
    }
}

/// `usage` cut down to `tokens` in all, output first.
fn trimmed(usage: TokenUsage, tokens: u64) -> TokenUsage {
    let mut excess = usage.total().saturating_sub(tokens);
    let mut cut = |n: &mut u64| {
        let take = excess.min(*n);
        *n -= take;
        excess -= take;
    };
    let mut usage = usage;
    cut(&mut usage.output);
    cut(&mut usage.input);
    cut(&mut usage.cache_write);
    cut(&mut usage.cache_read);
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_trimmed_output_first() {
        let usage = TokenUsage { input: 10, output: 30, cache_read: 5, cache_write: 0 };
        assert_eq!(trimmed(usage, 45), usage);
        assert_eq!(trimmed(usage, 20), TokenUsage { input: 10, output: 5, cache_read: 5, cache_write: 0 });
        assert_eq!(trimmed(usage, 3).total(), 3);
    }
}
