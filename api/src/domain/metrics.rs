//! The service's own counters, as Prometheus would keep them: counters and histograms with
//! labels, kept in memory per instance and rendered by the HTTP edge at `/metrics`.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency histograms' buckets, in seconds (Prometheus' `le`).
pub const SECONDS_BUCKETS: [f64; 18] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// A latency histogram: counts per bucket (not cumulative), the sum and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; SECONDS_BUCKETS.len()],
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(i) = SECONDS_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i] += 1;
        }
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

/// A labelled family of counters.
type Counters<K> = Mutex<BTreeMap<K, u64>>;
/// A labelled family of histograms.
type Histograms<K> = Mutex<BTreeMap<K, Histogram>>;

#[derive(Default)]
struct Inner {
    http_requests: Counters<(String, u16)>,
    model_calls: Counters<(String, String)>,
    tokens: Counters<(String, &'static str)>,
    cost_nanos: Counters<String>,
    added_latency: Histograms<()>,
    model_latency: Histograms<String>,
    store_ops: Histograms<(&'static str, &'static str)>,
    holds_in_flight: AtomicI64,
    settlement_losses: AtomicU64,
    lost_tokens: AtomicU64,
    count_tokens_calls: AtomicU64,
    leases: LeaseCounts,
    alerts_sent: Counters<(String, &'static str)>,
    outage: OutageCounts,
}

/// What hot users' leases did (see `invoke::lease`).
#[derive(Default)]
struct LeaseCounts {
    opened: AtomicU64,
    calls: AtomicU64,
    settlements: AtomicU64,
}

/// What failing open did (see `domain::outage`).
#[derive(Default)]
struct OutageCounts {
    admissions: AtomicU64,
    written: AtomicU64,
    replayed: AtomicU64,
    overshoot_tokens: AtomicU64,
}

/// The counters of this instance. Cheap to clone; every clone counts into the same figures.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

fn bump<K: Ord>(family: &Counters<K>, key: K, by: u64) {
    let mut family = family.lock().unwrap_or_else(PoisonError::into_inner);
    let count = family.entry(key).or_default();
    *count = count.saturating_add(by);
}

fn observe<K: Ord>(family: &Histograms<K>, key: K, took: Duration) {
    family.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().observe(took);
}

fn snapshot<K: Ord + Clone, V: Clone>(family: &Mutex<BTreeMap<K, V>>) -> Vec<(K, V)> {
    family.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Everything [`Metrics`] holds at one moment.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// (route, status) → requests.
    pub http_requests: Vec<((String, u16), u64)>,
    /// (model, outcome) → calls.
    pub model_calls: Vec<((String, String), u64)>,
    /// (model, `input`|`output`) → tokens.
    pub tokens: Vec<((String, &'static str), u64)>,
    /// model → nano-dollars.
    pub cost_nanos: Vec<(String, u64)>,
    pub added_latency: Histogram,
    pub model_latency: Vec<(String, Histogram)>,
    /// (operation, `ok`|`error`) → latency.
    pub store_ops: Vec<((&'static str, &'static str), Histogram)>,
    pub holds_in_flight: i64,
    pub settlement_losses: u64,
    pub lost_tokens: u64,
    pub count_tokens_calls: u64,
    /// Leases taken for hot users, calls admitted from one without a store step, and the
    /// settlements that charged those calls in batches.
    pub leases_opened: u64,
    pub lease_calls: u64,
    pub lease_settlements: u64,
    /// (alert, `webhook`|`sns`) → notifications delivered.
    pub alerts_sent: Vec<((String, &'static str), u64)>,
    /// Calls admitted from a user's last known state while the store was unavailable.
    pub outage_admissions: u64,
    /// Their settlements written to the outbox, and replayed into the store.
    pub outbox_written: u64,
    pub outbox_replayed: u64,
    /// Tokens replayed past a user's limit.
    pub outage_overshoot_tokens: u64,
}

impl Metrics {
    pub fn http_request(&self, route: &str, status: u16) {
        bump(&self.0.http_requests, (route.to_owned(), status), 1);
    }

    /// A model call that ended (`outcome` is `ok` or an error code), with its tokens and cost.
    pub fn model_call(&self, model: &str, outcome: &str, input: u64, output: u64, cost_nanos: u64) {
        bump(&self.0.model_calls, (model.to_owned(), outcome.to_owned()), 1);
        if input > 0 || output > 0 {
            bump(&self.0.tokens, (model.to_owned(), "input"), input);
            bump(&self.0.tokens, (model.to_owned(), "output"), output);
            bump(&self.0.cost_nanos, model.to_owned(), cost_nanos);
        }
    }

    /// The time a model took to answer (or fail).
    pub fn model_latency(&self, model: &str, took: Duration) {
        observe(&self.0.model_latency, model.to_owned(), took);
    }

    /// The service's own time for a call: its whole latency less the model's.
    pub fn added_latency(&self, took: Duration) {
        observe(&self.0.added_latency, (), took);
    }

    pub fn store_op(&self, operation: &'static str, ok: bool, took: Duration) {
        observe(&self.0.store_ops, (operation, if ok { "ok" } else { "error" }), took);
    }

    pub fn hold_taken(&self) {
        self.0.holds_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn hold_ended(&self) {
        self.0.holds_in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A call whose hold was lost was charged `lost` tokens less than it used, so that no limit
    /// was passed.
    pub fn settlement_loss(&self, lost: u64) {
        self.0.settlement_losses.fetch_add(1, Ordering::Relaxed);
        self.0.lost_tokens.fetch_add(lost, Ordering::Relaxed);
    }

    pub fn count_tokens_call(&self) {
        self.0.count_tokens_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn lease_opened(&self) {
        self.0.leases.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A call admitted from a lease: it adds no store step of its own.
    pub fn lease_call(&self) {
        self.0.leases.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A lease's settlement (of a batch of its calls).
    pub fn lease_settlement(&self) {
        self.0.leases.settlements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outage_admission(&self) {
        self.0.outage.admissions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_written(&self) {
        self.0.outage.written.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_replayed(&self) {
        self.0.outage.replayed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outage_overshoot(&self, tokens: u64) {
        self.0.outage.overshoot_tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    pub fn alert_sent(&self, alert: &str, target: &'static str) {
        bump(&self.0.alerts_sent, (alert.to_owned(), target), 1);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let inner = &self.0;
        MetricsSnapshot {
            http_requests: snapshot(&inner.http_requests),
            model_calls: snapshot(&inner.model_calls),
            tokens: snapshot(&inner.tokens),
            cost_nanos: snapshot(&inner.cost_nanos),
            added_latency: snapshot(&inner.added_latency).into_iter().next().map(|(_, h)| h).unwrap_or_default(),
            model_latency: snapshot(&inner.model_latency),
            store_ops: snapshot(&inner.store_ops),
            holds_in_flight: inner.holds_in_flight.load(Ordering::Relaxed),
            settlement_losses: inner.settlement_losses.load(Ordering::Relaxed),
            lost_tokens: inner.lost_tokens.load(Ordering::Relaxed),
            count_tokens_calls: inner.count_tokens_calls.load(Ordering::Relaxed),
            leases_opened: inner.leases.opened.load(Ordering::Relaxed),
            lease_calls: inner.leases.calls.load(Ordering::Relaxed),
            lease_settlements: inner.leases.settlements.load(Ordering::Relaxed),
            alerts_sent: snapshot(&inner.alerts_sent),
            outage_admissions: inner.outage.admissions.load(Ordering::Relaxed),
            outbox_written: inner.outage.written.load(Ordering::Relaxed),
            outbox_replayed: inner.outage.replayed.load(Ordering::Relaxed),
            outage_overshoot_tokens: inner.outage.overshoot_tokens.load(Ordering::Relaxed),
        }
    }
}
