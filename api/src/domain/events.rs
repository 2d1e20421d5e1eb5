//! Usage events and hourly roll-ups: every figure a report shows can be recomputed from the
//! events, and every report reads roll-ups, never events.
//!
//! One event per model call (settled, failed or refused) and per usage record, written with the
//! settlement in the same atomic step where the store allows it. Each event also adds to two
//! hourly roll-ups: its (user, model) and its model. A roll-up keeps counts, token and cost
//! sums, error counts by code, and a latency histogram with fixed buckets, so p50/p99 over any
//! range come from roll-ups within one bucket's width.

use std::{collections::BTreeMap, fmt};

use super::{ErrorCode, Money, Timestamp, TokenUsage, UserId};

/// A time-ordered event ID: `<13 hex digits of milliseconds><8 random hex digits>`, so IDs sort
/// by time and pages are cut by ID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(String);

impl EventId {
    pub fn generate(at: Timestamp) -> Self {
        Self(format!("{:013x}{:08x}", at.millis().max(0), rand::random::<u32>()))
    }

    /// The ID above every event made up to `at`: the cursor of a page that starts at `at`.
    pub fn after(at: Timestamp) -> Self {
        Self(format!("{:013x}ffffffff", at.millis().max(0)))
    }

    /// An event ID as stored or sent back as a page cursor.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 21 && raw.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Invoke,
    Stream,
    Record,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Stream => "stream",
            EventKind::Record => "record",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [EventKind::Invoke, EventKind::Stream, EventKind::Record].into_iter().find(|k| k.as_str() == raw)
    }
}

/// The model of usage recorded without naming one.
pub const NO_MODEL: &str = "unspecified";

/// One model call or usage record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub id: EventId,
    pub at: Timestamp,
    pub user: UserId,
    /// The model ID called, or [`NO_MODEL`].
    pub model: String,
    pub kind: EventKind,
    /// `None` when the call succeeded; else the error it ended with.
    pub outcome: Option<ErrorCode>,
    pub usage: TokenUsage,
    pub cost: Money,
    /// From the request's arrival to its end (the answer, or the stream's last event).
    pub latency_ms: u64,
    /// For streams: from arrival to the first text.
    pub time_to_first_token_ms: Option<u64>,
    /// The rule that refused the call, when one did (`1000 requests per day`).
    pub blocked_by: Option<String>,
    /// When the event (and the roll-ups it adds to) may be forgotten: its retention.
    pub expires_at: Timestamp,
}

impl UsageEvent {
    /// How long events are kept unless configured otherwise (`TOKENMETER_EVENT_RETENTION_DAYS`).
    pub const DEFAULT_RETENTION_DAYS: u64 = 90;

    /// The outcome as reports and the API write it: `ok` or the error code.
    pub fn outcome_str(&self) -> &'static str {
        self.outcome.map_or("ok", ErrorCode::as_str)
    }

    pub fn is_call(&self) -> bool {
        self.kind != EventKind::Record
    }
}

/// Upper bounds of the latency histogram's buckets, in milliseconds; the last bucket holds
/// everything slower.
pub const LATENCY_BUCKETS_MS: [u64; 15] =
    [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 60_000, 120_000, u64::MAX];

/// Sums over a set of events (one hour of one user and model, or any merge of those).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Model calls: settled, failed and refused.
    pub calls: u64,
    /// Usage records.
    pub records: u64,
    /// Calls that ended with an error (refusals included).
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost: Money,
    /// Sum and histogram of the latency of calls that succeeded.
    pub latency_sum_ms: u64,
    pub latency_buckets: [u64; LATENCY_BUCKETS_MS.len()],
}

impl Totals {
    /// What one event adds.
    pub fn of(event: &UsageEvent) -> Self {
        let mut totals = Totals {
            input_tokens: event.usage.input,
            output_tokens: event.usage.output,
            cache_read_tokens: event.usage.cache_read,
            cache_write_tokens: event.usage.cache_write,
            cost: event.cost,
            ..Totals::default()
        };
        if !event.is_call() {
            totals.records = 1;
            return totals;
        }
        totals.calls = 1;
        match event.outcome {
            Some(code) => {
                totals.errors = 1;
                totals.errors_by_code.insert(code.as_str().to_owned(), 1);
            }
            None => {
                totals.latency_sum_ms = event.latency_ms;
                totals.latency_buckets[bucket_of(event.latency_ms)] = 1;
            }
        }
        totals
    }

    /// Adds `other`'s sums (saturating: sums of recorded usage can be huge).
    pub fn add(&mut self, other: &Totals) {
        let add = |mine: &mut u64, theirs: u64| *mine = mine.saturating_add(theirs);
        add(&mut self.calls, other.calls);
        add(&mut self.records, other.records);
        add(&mut self.errors, other.errors);
        for (code, n) in &other.errors_by_code {
            add(self.errors_by_code.entry(code.clone()).or_default(), *n);
        }
        add(&mut self.input_tokens, other.input_tokens);
        add(&mut self.output_tokens, other.output_tokens);
        add(&mut self.cache_read_tokens, other.cache_read_tokens);
        add(&mut self.cache_write_tokens, other.cache_write_tokens);
        self.cost = self.cost + other.cost;
        add(&mut self.latency_sum_ms, other.latency_sum_ms);
        for (mine, theirs) in self.latency_buckets.iter_mut().zip(other.latency_buckets) {
            add(mine, theirs);
        }
    }

    /// Successful calls, the latency figures' population.
    pub fn timed_calls(&self) -> u64 {
        self.latency_buckets.iter().fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Input tokens of every kind (cache reads and writes included).
    pub fn all_input_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.cache_read_tokens).saturating_add(self.cache_write_tokens)
    }

    /// The latency below which a share `q` (0–1) of successful calls fell: the upper bound of
    /// the bucket holding that rank (so within one bucket's width of the exact figure);
    /// `None` without successful calls.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<u64> {
        let count = self.timed_calls();
        if count == 0 {
            return None;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (i, n) in self.latency_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                // The open last bucket reports its lower bound: the slowest known finite bound.
                return Some(if i + 1 == LATENCY_BUCKETS_MS.len() {
                    LATENCY_BUCKETS_MS[i - 1]
                } else {
                    LATENCY_BUCKETS_MS[i]
                });
            }
        }
        None
    }

    pub fn mean_latency_ms(&self) -> Option<f64> {
        let count = self.timed_calls();
        (count > 0).then(|| self.latency_sum_ms as f64 / count as f64)
    }
}

/// The bucket a latency falls in.
pub(super) fn bucket_of(latency_ms: u64) -> usize {
    LATENCY_BUCKETS_MS.iter().position(|bound| latency_ms <= *bound).unwrap_or(LATENCY_BUCKETS_MS.len() - 1)
}

/// One hour's sums for a user and model, or (with `user: None`) for a model across users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    /// The start of the hour.
    pub hour: Timestamp,
    pub user: Option<UserId>,
    pub model: String,
    pub totals: Totals,
}

/// Which events a page of the log shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub user: Option<UserId>,
    /// Only events older than this one (the previous page's last, or [`EventId::after`] now).
    pub before: EventId,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(latency_ms: u64, outcome: Option<ErrorCode>) -> UsageEvent {
        UsageEvent {
            id: EventId::generate(Timestamp::from_millis(1)),
            at: Timestamp::from_millis(1),
            user: UserId::parse("userId", "u").unwrap(),
            model: "m".into(),
            kind: EventKind::Invoke,
            outcome,
            usage: TokenUsage { input: 3, output: 4, ..TokenUsage::default() },
            cost: Money::from_nanos(70),
            latency_ms,
            time_to_first_token_ms: None,
            blocked_by: None,
            expires_at: Timestamp::from_millis(2),
        }
    }

    #[test]
    fn ids_sort_by_time() {
        let early = EventId::generate(Timestamp::from_millis(1_000));
        let late = EventId::generate(Timestamp::from_millis(1_001));
        assert!(early < late);
        assert_eq!(EventId::parse(early.as_str()), Some(early));
        assert_eq!(EventId::parse("nope"), None);
    }

    #[test]
    fn totals_add_up_and_quantiles_fall_within_a_bucket() {
        let mut totals = Totals::default();
        for latency in 1..=100 {
            totals.add(&Totals::of(&call(latency * 10, None)));
        }
        totals.add(&Totals::of(&call(5, Some(ErrorCode::ModelThrottled))));
        assert_eq!((totals.calls, totals.errors, totals.timed_calls()), (101, 1, 100));
        assert_eq!(totals.errors_by_code["model_throttled"], 1);
        assert_eq!(totals.input_tokens, 303);
        assert_eq!(totals.cost, Money::from_nanos(7_070));
        assert_eq!(totals.mean_latency_ms(), Some(505.0));
        // Exact p50 is 500 ms and p99 990 ms; the buckets' upper bounds are 500 and 1,000.
        assert_eq!(totals.latency_quantile_ms(0.5), Some(500));
        assert_eq!(totals.latency_quantile_ms(0.99), Some(1_000));
        assert_eq!(Totals::default().latency_quantile_ms(0.5), None);
    }
}
