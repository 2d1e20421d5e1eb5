//! Leases: a hot user's budget, held by an instance for many calls at once.
//!
//! Every call holds and settles on its user's account item, and one DynamoDB item takes about
//! 1,000 writes a second. When an instance sees one user's calls to one model arrive faster
//! than [`LeaseSettings::min_rate`], one call is chosen to reserve a lease ([`Opening`]; the
//! others wait for it): one hold sized for twice the calls the recent rate brings in
//! [`LeaseSettings::open_for`], at most half of what any rule has left, taken like any hold,
//! every ceiling checked in one atomic step. Calls then take their worst case from the lease in
//! memory, with no store write. A finished call's usage, event and idempotency answer join the
//! lease's next settlement (after [`LeaseSettings::linger`], at most [`MAX_BATCH`] calls), which
//! charges the batch and shrinks the hold by what it used, in one step; the call answers once
//! that step is done, so no answered call is lost. The lease takes new calls for `open_for` (the
//! next one is reserved shortly before), or until a call does not fit, then settles its last
//! calls and gives back what is left. Its instance renews it meanwhile, so a crashed instance's
//! lease expires and is released like any hold; a lease released under its calls leaves each
//! to be charged at most what is free. Whatever its calls do, the lease's hold covers them: no
//! limit is passed.

mod tend;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::{Notify, oneshot, watch};

use crate::domain::{Amounts, Hold, IdempotencyClaim, RuleState, StoreError, UsageEvent, User, UserId};

/// The most calls one settlement charges: a DynamoDB transaction holds 100 items, and a batch
/// writes each call's event and idempotency answer besides the account, counters and roll-ups.
const MAX_BATCH: usize = 32;
/// The window a user's rate is counted over.
const RATE_WINDOW: Duration = Duration::from_millis(100);
/// How long a lease's reservation may take before another call may try one.
const OPENING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a lease another call is reserving before it holds on its own.
const OPENING_WAIT: Duration = Duration::from_millis(250);
/// The most calls a lease is sized for.
const MAX_LEASE_CALLS: u64 = 4_096;

/// How a hot user's calls share leases.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub enabled: bool,
    /// Calls per second (of one user to one model, on one instance) from which a lease is taken.
    pub min_rate: u32,
    /// How long a lease takes new calls.
    pub open_for: Duration,
    /// How long a lease's settlement waits for more finished calls to join it.
    pub linger: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self { enabled: false, min_rate: 50, open_for: Duration::from_secs(1), linger: Duration::from_millis(25) }
    }
}

/// Per user and model: the recent rate of calls, and the lease taking calls, if any; and the
/// idempotency keys of lease calls running here.
#[derive(Default)]
pub(super) struct Leases {
    slots: Mutex<HashMap<(UserId, String), Slot>>,
    running: Arc<Mutex<HashSet<String>>>,
}

/// A lease call's idempotency key, known to be running on this instance until dropped (after
/// the call's settlement stored its answer, or its release).
struct Running {
    keys: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

impl Leases {
    /// Marks `claim` running here; `None` when a call with the same key already runs here.
    fn run(&self, claim: &IdempotencyClaim) -> Option<Running> {
        let key = format!("{}\n{}", claim.scope, claim.key.as_str());
        let fresh = self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone());
        fresh.then(|| Running { keys: self.running.clone(), key })
    }
}

#[derive(Default)]
struct Slot {
    rate: Rate,
    lease: Option<Arc<Lease>>,
    /// Since when a call is reserving a lease ([`Opening`]): the others wait for it rather than
    /// each reserving a lease of its own (for at most [`OPENING_TIMEOUT`], should its store
    /// step hang).
    opening: Option<Instant>,
    /// Told when a lease opens (or its reservation fails): calls waiting for it look again.
    opened: Option<watch::Sender<()>>,
}

impl Slot {
    /// Whether a call is reserving a lease now.
    fn is_opening(&self) -> bool {
        self.opening.is_some_and(|since| since.elapsed() < OPENING_TIMEOUT)
    }

    /// Ends a reservation of a lease (made or refused) and tells the calls waiting for it.
    fn opening_ended(&mut self) {
        self.opening = None;
        if let Some(opened) = &self.opened {
            opened.send_replace(());
        }
    }
}

/// Calls counted per [`RATE_WINDOW`].
#[derive(Default)]
struct Rate {
    started: Option<Instant>,
    this: u64,
    last: u64,
}

impl Rate {
    /// Counts a call and answers the calls per second seen lately.
    fn count(&mut self, now: Instant) -> u64 {
        let started = *self.started.get_or_insert(now);
        let elapsed = now.duration_since(started);
        if elapsed >= RATE_WINDOW {
            self.last = if elapsed < 2 * RATE_WINDOW { self.this } else { 0 };
            self.this = 0;
            self.started = Some(now);
        }
        self.this += 1;
        self.per_second()
    }

    fn per_second(&self) -> u64 {
        self.last.max(self.this) * (Duration::from_secs(1).as_millis() / RATE_WINDOW.as_millis()) as u64
    }
}

/// What a call gets of the leases at its admission.
pub(super) enum FromLease {
    /// Its share of a lease: no store step.
    Admitted(Box<super::admit::Reserved>),
    /// It reserves the next lease (its own call the first in it).
    Open(Opening),
    /// It holds on its own.
    Own,
}

/// A call chosen to reserve its user and model's next lease. Until it opens the lease (or is
/// dropped without, when no lease fits or its reservation fails), other calls wait for it.
pub(super) struct Opening {
    invocations: super::Invocations,
    key: (UserId, String),
    /// The calls per second seen lately, which the lease is sized to.
    rate: u64,
    /// The call's idempotency key, running here (its first call's, once the lease opens).
    running: Option<Running>,
    opened: bool,
}

impl Drop for Opening {
    fn drop(&mut self) {
        if !self.opened {
            let mut slots = self.invocations.0.leases.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = slots.get_mut(&self.key) {
                slot.opening_ended();
            }
        }
    }
}

/// A lease in memory: the hold as stored, and the calls it covers.
pub(super) struct Lease {
    user: UserId,
    /// The user as the lease's reservation left it, and the rules it was planned under (what
    /// its calls' `RateLimit` headers describe).
    snapshot: User,
    rules: Vec<RuleState>,
    closes_at: Instant,
    state: Mutex<State>,
    wake: Notify,
}

struct State {
    hold: Hold,
    /// What new calls may still take: the hold less the calls in flight and those finished but
    /// not yet settled.
    free: Amounts,
    in_flight: u64,
    finished: Vec<Finished>,
    /// Takes no new calls.
    closed: bool,
    /// Its hold was released under it (its instance could not renew it in time).
    gone: bool,
}

struct Finished {
    used: Amounts,
    event: UsageEvent,
    claim: Option<(IdempotencyClaim, serde_json::Value)>,
    answer: Option<oneshot::Sender<Result<User, StoreError>>>,
}

/// A call's share of a lease: its worst case, taken from the lease's free part.
pub(super) struct Ticket {
    lease: Arc<Lease>,
    need: Amounts,
    /// The call's idempotency key, running here.
    _running: Option<Running>,
}

/// A batch to settle, taken from a lease.
struct Batch {
    hold: Hold,
    used: Amounts,
    events: Vec<UsageEvent>,
    claims: Vec<(IdempotencyClaim, serde_json::Value)>,
    answers: Vec<oneshot::Sender<Result<User, StoreError>>>,
    /// The lease's last settlement: it removes the hold.
    last: bool,
}

impl Lease {
    /// Whether the lease takes no more calls within `time` (or already).
    fn ends_within(&self, time: Duration) -> bool {
        self.closes_at.saturating_duration_since(Instant::now()) < time || self.lock().closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `need` for a call, unless the lease is closed or `need` does not fit (which closes
    /// it, so that the next call reserves a lease sized afresh).
    /// On refusal, the call's idempotency key comes back.
    fn take(self: &Arc<Self>, need: Amounts, running: Option<Running>) -> Result<Ticket, Option<Running>> {
        let mut state = self.lock();
        // (A lease whose hold is gone is closed too.)
        if state.closed || Instant::now() >= self.closes_at || !state.free.covers(need) {
            if !state.closed {
                state.closed = true;
                self.wake.notify_one();
            }
            return Err(running);
        }
        state.free = state.free.saturating_sub(need);
        state.in_flight += 1;
        Ok(Ticket { lease: self.clone(), need, _running: running })
    }

    fn finish(&self, need: Amounts, call: Finished) {
        let mut state = self.lock();
        state.free = state.free.saturating_add(need).saturating_sub(call.used);
        state.in_flight -= 1;
        if state.gone {
            if let Some(answer) = call.answer {
                let _ = answer.send(Err(StoreError::HoldGone));
            }
            return;
        }
        state.finished.push(call);
        self.wake.notify_one();
    }

    /// The finished calls to settle now, if any (or the last settlement, once closed and idle).
    fn batch(&self) -> Option<Batch> {
        let mut state = self.lock();
        if Instant::now() >= self.closes_at {
            state.closed = true;
        }
        let take = state.finished.len().min(MAX_BATCH);
        let finished: Vec<Finished> = state.finished.drain(..take).collect();
        let last = state.closed && state.in_flight == 0 && state.finished.is_empty();
        if finished.is_empty() && !last {
            return None;
        }
        let mut batch = Batch {
            hold: state.hold.clone(),
            used: Amounts::ZERO,
            events: Vec::new(),
            claims: Vec::new(),
            answers: Vec::new(),
            last,
        };
        for call in finished {
            batch.used = batch.used.saturating_add(call.used);
            batch.events.push(call.event);
            batch.claims.extend(call.claim);
            batch.answers.extend(call.answer);
        }
        Some(batch)
    }

    /// Applies a settlement's result: the hold as it is now, or gone.
    fn settled(&self, kept: Option<Amounts>, result: &Result<User, StoreError>) {
        let mut state = self.lock();
        match (result, kept) {
            (Ok(_), Some(kept)) => state.hold.amounts = kept,
            (Err(StoreError::HoldGone), _) => {
                state.gone = true;
                state.closed = true;
                for call in state.finished.drain(..) {
                    if let Some(answer) = call.answer {
                        let _ = answer.send(Err(StoreError::HoldGone));
                    }
                }
            }
            _ => {}
        }
    }
}

impl Ticket {
    /// Adds the call's usage, event and answer (for its idempotency key) to the lease's next
    /// settlement and waits for it: the user after it, or why it failed
    /// ([`StoreError::HoldGone`] when the lease was lost).
    pub(super) async fn settle(
        &self,
        used: Amounts,
        event: UsageEvent,
        claim: Option<(IdempotencyClaim, serde_json::Value)>,
    ) -> Result<User, StoreError> {
        let (answer, settled) = oneshot::channel();
        self.lease.finish(self.need, Finished { used, event, claim, answer: Some(answer) });
        settled.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the lease's settlement was abandoned".into())))
    }

    /// Gives the call's share back (it failed), its event joining the next settlement.
    pub(super) fn release(&self, event: UsageEvent) {
        self.lease.finish(self.need, Finished { used: Amounts::ZERO, event, claim: None, answer: None });
    }

    /// What the user can spend besides the calls in flight, as this instance knows it.
    fn remaining(&self) -> u64 {
        self.lease.snapshot.remaining_tokens().saturating_add(self.lease.lock().free.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_the_last_full_window_or_the_current_one() {
        let mut rate = Rate::default();
        let start = Instant::now();
        for _ in 0..4 {
            rate.count(start);
        }
        assert_eq!(rate.count(start), 50, "5 calls in the current window");
        assert_eq!(rate.count(start + RATE_WINDOW), 50, "the last window's 5, once it is over");
        assert_eq!(rate.count(start + 3 * RATE_WINDOW), 10, "a window with no calls in between counts none");
    }
}
