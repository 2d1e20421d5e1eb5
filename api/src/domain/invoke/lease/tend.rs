//! Admitting calls from leases, opening them, and tending them: settling their calls in
//! batches, renewing their holds, and ending them.

use std::{
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use tokio::sync::{Notify, watch};

use super::{Batch, FromLease, Lease, MAX_BATCH, MAX_LEASE_CALLS, OPENING_WAIT, Opening, RATE_WINDOW, State, Ticket};
use crate::domain::{
    Amounts, Error, Hold, ModelRequest, RuleState, Settlement, StoreError, User, UserId,
    invoke::{
        Invocations, Limits,
        admit::{Prepared, Reserved},
    },
    quota::Admission,
};

/// What a call needs of a lease: one request, its input bound and output cap, their worst cost.
fn need_of(call: &Prepared, input: u64) -> Amounts {
    let output = u64::from(call.requested);
    Amounts { tokens: input + output, requests: 1, cost: call.priced.prices.worst_case(input, output) }
}

impl Invocations {
    /// Admits a call from the lease this instance holds for the user and model, with no store
    /// step; or chooses it to reserve the next lease (the user is hot here, and nobody else is
    /// reserving one, and there is no lease with room, or it ends soon); or lets it hold on its
    /// own. A call finding another reserving a lease waits for it first (up to
    /// [`OPENING_WAIT`]). `IdempotencyInProgress` when a lease call with the same key runs here.
    pub(in crate::domain::invoke) async fn admit_from_lease(
        &self,
        user: &UserId,
        call: &Prepared,
    ) -> Result<FromLease, Error> {
        let settings = &self.0.settings.leases;
        if !settings.enabled {
            return Ok(FromLease::Own);
        }
        let key = (user.clone(), call.request.model_id.clone());
        // A call with a key runs once here at a time; its answer is stored with its settlement.
        let mut running = match &call.claim {
            Some(claim) => Some(self.0.leases.run(claim).ok_or(Error::IdempotencyInProgress)?),
            None => None,
        };
        let need = need_of(call, self.0.provider.input_bound(&call.request));
        let mut waited = false;
        let (lease, ticket) = loop {
            let mut opened = {
                let mut slots = self.0.leases.slots.lock().unwrap_or_else(PoisonError::into_inner);
                let slot = slots.entry(key.clone()).or_default();
                let rate = if waited { slot.rate.per_second() } else { slot.rate.count(Instant::now()) };
                let hot = rate >= u64::from(settings.min_rate);
                let lease = slot.lease.clone();
                let ends_soon = lease.as_ref().is_none_or(|lease| lease.ends_within(settings.open_for / 5));
                if hot && ends_soon && !slot.is_opening() {
                    slot.opening = Some(Instant::now());
                    let opening = Opening { invocations: self.clone(), key, rate, running, opened: false };
                    return Ok(FromLease::Open(opening));
                }
                if let Some(lease) = lease {
                    match lease.take(need, running) {
                        Ok(ticket) => break (lease, ticket),
                        Err(back) => running = back,
                    }
                }
                if !slot.is_opening() || waited {
                    return Ok(FromLease::Own);
                }
                slot.opened.get_or_insert_with(|| watch::channel(()).0).subscribe()
            };
            // Another call is reserving a lease: wait for it rather than hold on our own.
            let _ = tokio::time::timeout(OPENING_WAIT, opened.changed()).await;
            waited = true;
        };
        self.0.core.metrics.hold_taken();
        self.0.core.metrics.lease_call();
        let mut request: ModelRequest = call.request.clone();
        request.max_output_tokens = call.requested;
        let hold = Hold { amounts: ticket.need, ..lease.lock().hold.clone() };
        let now = self.0.core.now();
        Ok(FromLease::Admitted(Box::new(Reserved {
            user: user.clone(),
            remaining: ticket.remaining(),
            limits: Limits::tightest(&lease.rules, ticket.need, now),
            rules: lease.rules.clone(),
            hold,
            request,
            priced: call.priced.clone(),
            claim: call.claim.clone(),
            started: call.started,
            kind: call.kind,
            in_outage: false,
            lease: Some(ticket),
        })))
    }

    /// How many calls like this one the lease `opening` reserves should cover: 1 (a call's
    /// own hold, and no lease) unless the call gets all it asked for and more than one such
    /// call fits in half of what every rule has left. Twice the calls the recent rate brings
    /// in the lease's time, so it lasts as the rate grows.
    pub(in crate::domain::invoke) fn lease_calls(
        &self,
        opening: &Opening,
        call: &Prepared,
        states: &[RuleState],
        admission: &Admission,
    ) -> u64 {
        if admission.max_output_tokens < call.requested {
            return 1;
        }
        let open_for = self.0.settings.leases.open_for.as_secs_f64();
        let wanted = ((2.0 * opening.rate as f64 * open_for).ceil() as u64).clamp(2, MAX_LEASE_CALLS);
        let fits = states
            .iter()
            .map(|state| state.remaining() / state.amount(admission.hold).max(1) / 2)
            .min()
            .unwrap_or(wanted);
        if fits < 2 { 1 } else { wanted.min(fits) }
    }

    /// Starts a lease whose hold (`reserved.hold`) was just reserved: its first call, which
    /// `need`s so much of it, is `reserved`; a task settles its calls, renews it and finally
    /// gives back what is left. `snapshot` is the user as the reservation left it.
    pub(in crate::domain::invoke) fn open_lease(
        &self,
        mut opening: Opening,
        reserved: &mut Reserved,
        need: Amounts,
        snapshot: User,
    ) {
        opening.opened = true;
        let hold = reserved.hold.clone();
        reserved.hold.amounts = need;
        let lease = Arc::new(Lease {
            user: reserved.user.clone(),
            snapshot,
            rules: reserved.rules.clone(),
            closes_at: Instant::now() + self.0.settings.leases.open_for,
            state: Mutex::new(State {
                free: hold.amounts.saturating_sub(need),
                hold,
                in_flight: 1,
                finished: Vec::new(),
                closed: false,
                gone: false,
            }),
            wake: Notify::new(),
        });
        {
            let mut slots = self.0.leases.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (reserved.user.clone(), reserved.request.model_id.clone());
            let slot = slots.entry(key).or_default();
            slot.lease = Some(lease.clone());
            slot.opening_ended();
        }
        self.0.core.metrics.lease_opened();
        reserved.lease = Some(Ticket { lease: lease.clone(), need, _running: opening.running.take() });
        tokio::spawn(self.clone().tend(lease, reserved.request.model_id.clone()));
    }

    /// Settles a lease's finished calls in batches, renews its hold, and ends it.
    async fn tend(self, lease: Arc<Lease>, model: String) {
        let linger = self.0.settings.leases.linger;
        let mut renewal = self.renewal();
        let mut closes = pin!(tokio::time::sleep_until(lease.closes_at.into()));
        let stopping = self.0.core.stopping().clone();
        let (mut closing, mut stopped) = (false, false);
        loop {
            tokio::select! {
                () = lease.wake.notified() => {}
                () = &mut closes, if !closing => closing = true,
                () = stopping.cancelled(), if !stopped => {
                    stopped = true;
                    lease.lock().closed = true;
                }
                _ = renewal.tick() => {
                    self.renew_lease(&lease).await;
                    continue;
                }
            }
            // Let more finished calls join the batch.
            if lease.lock().finished.len() < MAX_BATCH && !linger.is_zero() {
                tokio::time::sleep(linger).await;
            }
            while let Some(batch) = lease.batch() {
                if self.settle_batch(&lease, batch).await {
                    self.end_lease(&lease, &model);
                    return;
                }
            }
        }
    }

    /// One settlement of a lease's batch; `true` when the lease is over (settled last, or lost).
    async fn settle_batch(&self, lease: &Lease, batch: Batch) -> bool {
        let core = &self.0.core;
        let kept = (!batch.last).then(|| batch.hold.amounts.saturating_sub(batch.used));
        let settlement = Settlement {
            user: lease.user.clone(),
            hold: batch.hold,
            used: batch.used,
            at: core.now(),
            events: batch.events,
            keep: kept,
            claims: batch.claims,
        };
        let result = self.settle_with_retries(&settlement).await;
        core.metrics.lease_settlement();
        lease.settled(kept, &result);
        match &result {
            Ok(_) => core.changes.publish(&lease.user),
            Err(StoreError::HoldGone) => tracing::error!(
                user = %lease.user, hold = %settlement.hold.id,
                "a lease's hold was released under it; its calls are charged at most what is free"
            ),
            Err(err) => tracing::error!(
                user = %lease.user, calls = settlement.events.len(), error = %err,
                "could not settle a lease's calls"
            ),
        }
        let over = batch.last || matches!(result, Err(StoreError::HoldGone));
        for answer in batch.answers {
            let _ = answer.send(result.clone());
        }
        over
    }

    async fn renew_lease(&self, lease: &Lease) {
        let (id, expires_at) = (lease.lock().hold.id.clone(), self.expiry());
        match self.0.core.accounts.renew(&lease.user, &id, expires_at).await {
            Ok(()) => lease.lock().hold.expires_at = expires_at,
            Err(err) => tracing::warn!(user = %lease.user, error = %err, "could not renew a lease; will try again"),
        }
    }

    /// Forgets an ended lease (unless a newer one took its place).
    fn end_lease(&self, lease: &Arc<Lease>, model: &str) {
        let mut slots = self.0.leases.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (lease.user.clone(), model.to_owned());
        if let Some(slot) = slots.get_mut(&key)
            && slot.lease.as_ref().is_some_and(|current| Arc::ptr_eq(current, lease))
        {
            slot.lease = None;
        }
        // Forget the slots of users no longer calling.
        let now = Instant::now();
        slots.retain(|_, slot| {
            slot.lease.is_some() || slot.rate.started.is_some_and(|at| now.duration_since(at) < 2 * RATE_WINDOW)
        });
    }
}
