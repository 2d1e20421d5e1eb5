//! Calls while the store is unavailable, when the service fails open (`domain::outage`):
//! admitted from the user's last known state within the instance's allowance, settled to the
//! outbox, and replayed into the store, exactly once, when it is back.

use super::{
    Invocations, Limits,
    admit::{Admitted, Prepared, Reserved},
};
use crate::domain::{
    Amounts, Ceiling, CounterCharge, Error, Hold, HoldId, IdempotencyClaim, IdempotencyKey, OutboxEntry, Recording,
    StoreError, UsageEvent, User, UserId, plan,
};

/// Outbox entries replayed per round.
const REPLAY_BATCH: usize = 100;

impl Invocations {
    /// Admits a call of a user this instance knows, if their last known state allows it and
    /// the allowance has room; else answers the outage (`why`) as fail-closed would.
    pub(super) async fn admit_in_outage(
        &self,
        user_id: &UserId,
        call: Prepared,
        why: String,
    ) -> Result<Admitted, Error> {
        let inner = &*self.0;
        let unavailable = || Error::StoreUnavailable(why.clone());
        let Some(known) = inner.outage.known(user_id) else { return Err(unavailable()) };
        if known.model != call.request.model_id {
            return Err(unavailable()); // another model's rules are not known
        }
        let input = inner.provider.input_bound(&call.request);
        let Ok(admission) = plan(&known.states, input, call.requested, &call.priced.prices) else {
            return Err(unavailable());
        };
        if let Some(claim) = &call.claim
            && !inner.outage.claim(claim)
        {
            return Err(Error::IdempotencyInProgress);
        }
        if !inner.outage.take(admission.hold.tokens) {
            tracing::warn!(user = %user_id, "the store is unavailable and the fail-open allowance is spent");
            if let Some(claim) = &call.claim {
                inner.outage.unclaim(claim);
            }
            return Err(unavailable());
        }
        tracing::warn!(user = %user_id, tokens = admission.hold.tokens, "the store is unavailable: admitted from the last known state");
        inner.core.metrics.outage_admission();
        let now = inner.core.now();
        let counters = admission.ceilings.iter().filter(|(key, _)| !key.is_account()).map(|(key, _)| key.clone());
        let hold =
            Hold { id: HoldId::generate(), amounts: admission.hold, counters: counters.collect(), expires_at: now };
        let mut request = call.request;
        request.max_output_tokens = admission.max_output_tokens;
        let remaining = known.user.remaining_tokens().saturating_sub(admission.hold.tokens);
        Ok(Admitted::Reserved(Box::new(Reserved {
            user: user_id.clone(),
            limits: Limits::tightest(&known.states, admission.hold, now),
            rules: known.states.clone(),
            hold,
            request,
            priced: call.priced,
            remaining,
            claim: call.claim,
            started: call.started,
            kind: call.kind,
            in_outage: true,
            lease: None,
        })))
    }

    /// Writes a call admitted during an outage to the outbox and answers the user as this
    /// instance now knows them.
    pub(super) fn settle_to_outbox(
        &self,
        reserved: &Reserved,
        used: Amounts,
        event: UsageEvent,
        outcome: serde_json::Value,
    ) -> Result<User, Error> {
        let inner = &*self.0;
        let outbox = inner.outage.outbox().ok_or_else(|| Error::Internal("no outbox to settle to".into()))?;
        let now = inner.core.now();
        let counters = reserved.hold.counters.iter().map(|key| (key.clone(), key.expires_at(now))).collect();
        let answered = reserved.claim.clone().map(|claim| (claim, outcome));
        let entry = OutboxEntry { user: reserved.user.clone(), amounts: used, counters, event, answered };
        // The allowance keeps what was used until the entry is replayed.
        inner.outage.give_back(reserved.hold.amounts.tokens.saturating_sub(used.tokens));
        if let Err(err) = outbox.push(&entry) {
            inner.outage.give_back(used.tokens);
            tracing::error!(user = %reserved.user, tokens = used.tokens, error = %err, "could not write a call to the outbox; it is lost");
            return Err(Error::Internal("the outbox cannot be written".into()));
        }
        inner.outage.spent(&reserved.user, used);
        inner.core.metrics.outbox_written();
        inner
            .outage
            .known(&reserved.user)
            .map(|known| known.user)
            .ok_or_else(|| Error::UserNotFound(reserved.user.clone()))
    }

    /// Replays the outbox into the store, oldest first, until it is empty or the store fails.
    /// Each entry is recorded with its event's ID as idempotency key, so an entry replayed
    /// twice (the process died between the store's answer and the entry's removal) counts once.
    /// Recorded without ceilings: the calls happened. Answers how many were replayed.
    pub async fn replay_outbox(&self) -> Result<usize, Error> {
        let inner = &*self.0;
        let Some(outbox) = inner.outage.outbox() else { return Ok(0) };
        let core = &inner.core;
        let mut replayed = 0;
        loop {
            let entries = outbox.pending(REPLAY_BATCH).map_err(|e| Error::Internal(e.to_string()))?;
            if entries.is_empty() {
                return Ok(replayed);
            }
            for entry in entries {
                // The call's own key when it had one (a retry then finds its answer), else one
                // of the entry's.
                let claim = match &entry.answered {
                    Some((claim, _)) => claim.clone(),
                    None => {
                        let key = IdempotencyKey::parse(&format!("outbox-{}", entry.event.id))
                            .map_err(|e| Error::Internal(e.to_string()))?;
                        IdempotencyClaim::new(format!("outbox:{}", entry.user), key, "outbox", core.now())
                    }
                };
                let recording = Recording {
                    user: entry.user.clone(),
                    amounts: entry.amounts,
                    account: Ceiling::default(),
                    counters: entry
                        .counters
                        .iter()
                        .map(|(key, expires_at)| CounterCharge {
                            key: key.clone(),
                            ceiling: Ceiling::default(),
                            expires_at: *expires_at,
                        })
                        .collect(),
                    event: entry.event.clone(),
                    idempotency: Some(claim.clone()),
                };
                match core.accounts.record(&recording).await {
                    Ok(after) => {
                        let over = after.token_usage().saturating_sub(after.token_limit.get());
                        core.metrics.outage_overshoot(over.min(entry.amounts.tokens));
                        core.changes.publish(&entry.user);
                        if let Some((_, outcome)) = &entry.answered {
                            core.accounts.complete_idempotency(&claim, outcome).await.map_err(Error::store)?;
                        }
                    }
                    // Replayed before: counted once already.
                    Err(StoreError::Claimed(_)) => {}
                    // The user was deleted meanwhile: there is nothing to charge.
                    Err(StoreError::NotFound) => {
                        tracing::warn!(user = %entry.user, "an outbox entry's user is gone; dropped");
                    }
                    Err(err) => return Err(Error::from_store(err, &entry.user)),
                }
                outbox.remove(&entry.event.id).map_err(|e| Error::Internal(e.to_string()))?;
                if let Some((claim, _)) = &entry.answered {
                    inner.outage.unclaim(claim);
                }
                inner.outage.give_back(entry.amounts.tokens);
                core.metrics.outbox_replayed();
                replayed += 1;
            }
        }
    }

    /// Tokens of the fail-open allowance in use: held by calls, or spent and not yet replayed.
    pub fn outage_allowance_in_use(&self) -> u64 {
        self.0.outage.in_use()
    }
}
