//! Admission: from a prompt to a hold on every counter the call's rules use, or a refusal that
//! names the rule; a call whose budget is only held by calls in flight waits its turn.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use super::{
    Invocation, Invocations, Limits, Prompt, Remembered,
    lease::{FromLease, Ticket},
};
use crate::domain::{
    CounterCharge, Error, ErrorCode, EventKind, Guards, Hold, HoldId, IdempotencyClaim, IdempotencyKey,
    IdempotencyRecord, IdempotencyState, Metric, ModelRequest, Priced, Principal, Refusal, Reservation, RuleSource,
    RuleState, StoreError, Timestamp, Turn, UserId, model::Speaker, plan,
};

/// How often a waiting call looks for settlements made by other instances.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// Reservations refused by a concurrent change, re-planned at once, before a call waits instead.
const MAX_IMMEDIATE_REPLANS: u32 = 8;

/// A call holding its budget, ready to run.
pub(super) struct Reserved {
    pub(super) user: UserId,
    pub(super) hold: Hold,
    pub(super) request: ModelRequest,
    pub(super) priced: Priced,
    /// What the user can spend under the lifetime limit while the hold stands.
    pub(super) remaining: u64,
    /// The tightest rule counting the call's hold: what a stream's `RateLimit` headers say.
    pub(super) limits: Option<Limits>,
    /// The rules that apply, with their counters as read before the hold: a settled call's
    /// `RateLimit` headers count what it used instead of what it held.
    pub(super) rules: Vec<RuleState>,
    pub(super) claim: Option<IdempotencyClaim>,
    pub(super) started: Instant,
    pub(super) kind: EventKind,
    /// Admitted while the store was unavailable: no hold in the store, the instance's
    /// allowance instead, and a settlement that goes to the outbox.
    pub(super) in_outage: bool,
    /// The call's share of a lease (whose hold `hold` then names), settled with the lease's.
    pub(super) lease: Option<Ticket>,
}

/// A call ready to be admitted.
pub(super) struct Prepared {
    pub(super) request: ModelRequest,
    pub(super) priced: Priced,
    pub(super) claim: Option<IdempotencyClaim>,
    /// The output the caller asked for.
    pub(super) requested: u32,
    pub(super) kind: EventKind,
    pub(super) started: Instant,
}

pub(super) enum Admitted {
    Reserved(Box<Reserved>),
    Replayed(Box<Invocation>),
}

/// The refusal a blocked plan stands for.
fn refusal(user: &UserId, state: &RuleState, needed: u64, now: Timestamp) -> Refusal {
    Refusal {
        retry_after: state.window.resets_at.map(|at| now.until(at)),
        user: user.clone(),
        rule: state.rule.clone(),
        source: state.source,
        used: state.used(),
        remaining: state.remaining(),
        needed: Some(needed),
        held: state.held(),
        resets_at: state.window.resets_at,
    }
}

/// Whether some rule that cannot fit the whole request has budget held by calls in flight,
/// so that waiting for them could give the call what it asked for.
fn held_budget_binds(states: &[RuleState], input: u64, requested: u32, priced: &Priced) -> bool {
    states.iter().any(|state| {
        let full = match state.rule.metric {
            Metric::Tokens => input + u64::from(requested),
            Metric::Requests => 1,
            Metric::Cost => priced.prices.worst_case(input, u64::from(requested)).nanos(),
        };
        state.held() > 0 && state.remaining() < full
    })
}

/// Per user, the calls waiting for held budget take turns, first come first served.
#[derive(Default)]
pub(super) struct Queues(StdMutex<HashMap<UserId, Arc<Semaphore>>>);

/// A waiting call's turn; when dropped, the next waiter's turn begins.
struct TurnTaken {
    _permit: OwnedSemaphorePermit,
}

impl Queues {
    async fn take_turn(&self, user: &UserId, deadline: tokio::time::Instant) -> Option<TurnTaken> {
        let queue = {
            let mut queues = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget the queues nobody waits in (only the map holds them).
            queues.retain(|_, queue| Arc::strong_count(queue) > 1 || queue.available_permits() == 0);
            queues.entry(user.clone()).or_insert_with(|| Arc::new(Semaphore::new(1))).clone()
        };
        let permit = tokio::time::timeout_at(deadline, queue.acquire_owned()).await.ok()?.ok()?;
        Some(TurnTaken { _permit: permit })
    }
}

impl Invocations {
    /// Holds what the call may use, or refuses it, or (with an idempotency key used before)
    /// answers the earlier call. When the store is unavailable and the service fails open, a
    /// user this instance knows may be admitted without a hold (see `outage`).
    pub(super) async fn admit(
        &self,
        by: &Principal,
        user_id: &UserId,
        prompt: Prompt,
        kind: EventKind,
        key: Option<IdempotencyKey>,
    ) -> Result<Admitted, Error> {
        by.require_user(user_id)?;
        let call = self.prepare(user_id, prompt, kind, key)?;
        match self.admit_from_store(user_id, &call).await {
            Err(Error::StoreUnavailable(why)) if self.0.outage.fails_open() => {
                self.admit_in_outage(user_id, call, why).await
            }
            other => other,
        }
    }

    /// The model request and its price, the claim of its key, and what output is asked.
    fn prepare(
        &self,
        user_id: &UserId,
        prompt: Prompt,
        kind: EventKind,
        key: Option<IdempotencyKey>,
    ) -> Result<Prepared, Error> {
        let inner = &*self.0;
        let core = &inner.core;
        let model = prompt.model.clone().unwrap_or_else(|| core.default_model().to_owned());
        let priced = core.priced(&model)?;
        let claim =
            key.map(|key| IdempotencyClaim::new(format!("invoke:{user_id}"), key, &prompt.fingerprint(), core.now()));
        let requested = prompt.max_output_tokens.unwrap_or(inner.settings.default_max_output_tokens).max(1);
        let mut turns = prompt.history;
        turns.push(Turn { speaker: Speaker::User, text: prompt.prompt });
        let request = ModelRequest { model_id: model, system: prompt.system, turns, max_output_tokens: 0 };
        Ok(Prepared { request, priced, claim, requested, kind, started: Instant::now() })
    }

    async fn admit_from_store(&self, user_id: &UserId, call: &Prepared) -> Result<Admitted, Error> {
        let inner = &*self.0;
        let core = &inner.core;
        let Prepared { priced, claim, requested, kind, started, .. } = call;
        // A retry answers the first call even when the budget is spent by now. (The claim in
        // the reservation below still settles a race between two first attempts.)
        if let Some(claim) = claim {
            let earlier = core.accounts.idempotency(&claim.scope, claim.key.as_str()).await.map_err(Error::store)?;
            if let Some(record) = earlier {
                return self.replay(user_id, claim, record).await.map(|done| Admitted::Replayed(Box::new(done)));
            }
        }
        let mut opening = match self.admit_from_lease(user_id, call).await? {
            FromLease::Admitted(reserved) => return Ok(Admitted::Reserved(reserved)),
            FromLease::Open(opening) => Some(opening),
            FromLease::Own => None,
        };
        let (requested, kind, started) = (*requested, *kind, *started);
        let mut request = call.request.clone();
        let deadline = tokio::time::Instant::now() + inner.settings.admission_wait;
        let mut changes = core.changes.subscribe();
        let mut turn: Option<TurnTaken> = None;
        let mut exact = None;
        let mut fresh = false;
        let mut replans = 0;
        loop {
            let user = core.user(user_id).await?;
            let (states, tier) = inner.quotas.rule_states(&user, Some(&request.model_id), false, fresh).await?;
            inner.outage.remember(&user, &states, &request.model_id);
            let bound = inner.provider.input_bound(&request);
            let input = exact.unwrap_or(bound);
            let mut planned = plan(&states, input, requested, &priced.prices);
            // The bound is generous: where it binds (nothing fits, or the cap falls short of what
            // was asked), the provider's exact count may fit more. Elsewhere it costs nothing.
            let count_may_help = match &planned {
                Err(blocked) => blocked.remaining > 0 && states[blocked.rule].rule.metric != Metric::Requests,
                Ok(admission) => admission.max_output_tokens < requested,
            };
            if count_may_help && exact.is_none() {
                core.metrics.count_tokens_call();
                let counted = inner.provider.count_input_tokens(&request).await.map_err(Error::Model)?;
                exact = Some(counted);
                planned = plan(&states, counted, requested, &priced.prices);
            }
            let input = exact.unwrap_or(bound);
            let may_wait = tokio::time::Instant::now() < deadline;
            let admission = match planned {
                Ok(admission)
                    if admission.max_output_tokens < requested
                        && may_wait
                        && held_budget_binds(&states, input, requested, priced) =>
                {
                    self.wait(user_id, &mut turn, &mut changes, deadline).await;
                    continue;
                }
                Ok(admission) => admission,
                Err(blocked) if blocked.held > 0 && may_wait => {
                    self.wait(user_id, &mut turn, &mut changes, deadline).await;
                    continue;
                }
                Err(blocked) => {
                    let refused = refusal(user_id, &states[blocked.rule], blocked.needed, core.now());
                    return Err(self.refuse(&request.model_id, kind, started, refused).await);
                }
            };
            request.max_output_tokens = admission.max_output_tokens;
            let calls = opening.as_ref().map_or(1, |opening| self.lease_calls(opening, call, &states, &admission));
            let mut account = Default::default();
            let mut counters = Vec::new();
            for (key, ceiling) in admission.ceilings {
                if key.is_account() {
                    account = ceiling;
                } else {
                    let expires_at = key.expires_at(core.now());
                    counters.push(CounterCharge { key, ceiling, expires_at });
                }
            }
            let hold = Hold {
                id: HoldId::generate(),
                amounts: admission.hold.times(calls),
                counters: counters.iter().map(|c| c.key.clone()).collect(),
                expires_at: self.expiry(),
            };
            let reservation = Reservation {
                user: user_id.clone(),
                hold: hold.clone(),
                account,
                counters,
                guards: Guards {
                    rules_version: user.rules_version,
                    tier_version: tier.map(|t| (t.tier.name, t.version)),
                },
                // A lease's calls keep their keys here, and store them as they settle.
                idempotency: claim.clone().filter(|_| calls == 1),
            };
            let took = Instant::now();
            let reserved = core.accounts.reserve(&reservation).await;
            core.metrics.store_op("reserve", !matches!(reserved, Err(StoreError::Unavailable(_))), took.elapsed());
            match reserved {
                Ok(after) => {
                    core.metrics.hold_taken();
                    core.changes.publish(user_id);
                    let limits = Limits::tightest(&states, admission.hold, core.now());
                    let mut reserved = Box::new(Reserved {
                        user: user_id.clone(),
                        remaining: after.remaining_tokens(),
                        hold,
                        request,
                        priced: priced.clone(),
                        limits,
                        rules: states,
                        claim: claim.clone(),
                        started,
                        kind,
                        in_outage: false,
                        lease: None,
                    });
                    if let Some(opening) = opening.take().filter(|_| calls > 1) {
                        self.open_lease(opening, &mut reserved, admission.hold, after);
                    }
                    return Ok(Admitted::Reserved(reserved));
                }
                // Something changed since the read (a concurrent call, or the rules): read again.
                Err(StoreError::Refused) => {
                    fresh = true;
                    replans += 1;
                    if replans > MAX_IMMEDIATE_REPLANS {
                        if !may_wait {
                            return Err(Error::StoreUnavailable(format!(
                                "{replans} reservations for user '{user_id}' were refused by concurrent changes"
                            )));
                        }
                        self.wait(user_id, &mut turn, &mut changes, deadline).await;
                    }
                }
                Err(StoreError::Claimed(record)) => {
                    let claim = claim.as_ref().ok_or_else(|| Error::Internal("a claim without a key".into()))?;
                    return self.replay(user_id, claim, *record).await.map(|done| Admitted::Replayed(Box::new(done)));
                }
                Err(err) => return Err(Error::from_store(err, user_id)),
            }
        }
    }

    /// Waits, in the user's queue of waiting calls, until something changes for the user (a
    /// settlement here) or a poll's time passes (one elsewhere), or the deadline.
    async fn wait(
        &self,
        user: &UserId,
        turn: &mut Option<TurnTaken>,
        changes: &mut broadcast::Receiver<UserId>,
        deadline: tokio::time::Instant,
    ) {
        if turn.is_none() {
            match self.0.waiting.take_turn(user, deadline).await {
                Some(taken) => *turn = Some(taken),
                None => return,
            }
        }
        let poll = tokio::time::sleep(WAIT_POLL);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                () = &mut poll => return,
                () = tokio::time::sleep_until(deadline) => return,
                changed = changes.recv() => match changed {
                    Ok(id) if &id != user => continue,
                    _ => return,
                },
            }
        }
    }

    /// Records a refused call's event and answers the refusal.
    async fn refuse(&self, model: &str, kind: EventKind, started: Instant, refused: Refusal) -> Error {
        let core = &self.0.core;
        let code =
            if refused.source == RuleSource::Limit { ErrorCode::TokenLimitExceeded } else { ErrorCode::QuotaExceeded };
        let mut event = core.event(&refused.user, model, kind);
        event.outcome = Some(code);
        event.blocked_by = Some(refused.rule.to_string());
        event.latency_ms = started.elapsed().as_millis() as u64;
        core.metrics.model_call(model, code.as_str(), 0, 0, 0);
        if let Err(err) = core.events.put_event(&event).await {
            tracing::warn!(error = %err, user = %refused.user, "could not record a refused call's event");
        }
        match code {
            ErrorCode::TokenLimitExceeded => Error::TokenLimitExceeded(Box::new(refused)),
            _ => Error::QuotaExceeded(Box::new(refused)),
        }
    }

    /// The answer to a retry of a call whose idempotency key was claimed before.
    async fn replay(
        &self,
        user: &UserId,
        claim: &IdempotencyClaim,
        record: IdempotencyRecord,
    ) -> Result<Invocation, Error> {
        if record.claim.fingerprint != claim.fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        let IdempotencyState::Applied(Some(outcome)) = record.state else {
            return Err(Error::IdempotencyInProgress);
        };
        let remembered: Remembered = serde_json::from_value(outcome)
            .map_err(|e| Error::Internal(format!("an idempotency record cannot be read back: {e}")))?;
        let user = self.0.core.user(user).await?;
        Ok(Invocation {
            text: remembered.text,
            usage: remembered.usage,
            cost: remembered.cost,
            user,
            model_id: remembered.model_id,
            provider: remembered.provider,
            stop_reason: remembered.stop_reason,
            max_output_tokens: remembered.max_output_tokens,
            limits: None,
        })
    }
}
