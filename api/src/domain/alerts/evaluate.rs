//! The alert service: rules (admin-editable), the firings list, and the evaluation every
//! instance runs on a timer. Deciding which instance notifies is the store's conditional
//! write ([`AlertStore::claim_firing`], [`AlertStore::resolve_firing`]), never a read.

use std::{sync::Arc, time::Duration};

use super::{
    AlertMetric, AlertRule, Firing, FiringState,
    notify::{AlertTarget, Notification, deliver},
};
use crate::domain::{AlertStore, Core, Error, EventId, EventQuery, Principal, Quotas, Timestamp, Totals, UserId};

/// How many recent firings an evaluation reads to know which are still on.
const RECENT_FIRINGS: usize = 1_000;
/// The most events a window shorter than an hour is computed from.
const WINDOW_EVENTS: usize = 20_000;

#[derive(Clone)]
pub struct Alerts {
    core: Core,
    quotas: Quotas,
    store: Arc<dyn AlertStore>,
    targets: Arc<Vec<Arc<dyn AlertTarget>>>,
}

impl Alerts {
    pub(in crate::domain) fn new(
        core: Core,
        quotas: Quotas,
        store: Arc<dyn AlertStore>,
        targets: Vec<Arc<dyn AlertTarget>>,
    ) -> Self {
        Self { core, quotas, store, targets: Arc::new(targets) }
    }

    pub fn prices(&self) -> &crate::domain::PriceList {
        self.core.prices()
    }

    /// Every rule, ordered by name. Admins only.
    pub async fn rules(&self, by: &Principal) -> Result<Vec<AlertRule>, Error> {
        by.require_admin()?;
        self.store.alert_rules().await.map_err(Error::store)
    }

    /// Creates or replaces a rule. Admins only.
    pub async fn put_rule(&self, by: &Principal, rule: AlertRule) -> Result<AlertRule, Error> {
        by.require_admin()?;
        self.store.put_alert_rule(&rule).await.map_err(Error::store)?;
        Ok(rule)
    }

    /// Deletes a rule (its past firings stay in the list). Admins only.
    pub async fn delete_rule(&self, by: &Principal, name: &str) -> Result<(), Error> {
        by.require_admin()?;
        match self.store.delete_alert_rule(name).await {
            Err(crate::domain::StoreError::NotFound) => Err(Error::AlertRuleNotFound(name.to_owned())),
            other => other.map_err(Error::store),
        }
    }

    /// The firings still on, and the `recent` latest of all, newest first. Admins only.
    pub async fn firings(&self, by: &Principal, recent: usize) -> Result<(Vec<Firing>, Vec<Firing>), Error> {
        by.require_admin()?;
        let all = self.store.firings(RECENT_FIRINGS).await.map_err(Error::store)?;
        let active = all.iter().filter(|f| f.state == FiringState::Firing).cloned().collect();
        Ok((active, all.into_iter().take(recent).collect()))
    }

    /// Gives a new store the default rules (once: a deleted default stays deleted).
    pub async fn seed(&self) -> Result<(), Error> {
        self.store.seed_alert_rules(&AlertRule::defaults()).await.map_err(Error::store)
    }

    /// Evaluates every rule every `every` until the service stops; an evaluation that fails
    /// (the store unavailable) is logged and tried again next time.
    pub fn run_every(self, every: Duration) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = self.core.stopping().cancelled() => return,
                    _ = ticks.tick() => {}
                }
                if let Err(error) = self.evaluate().await {
                    tracing::warn!(%error, "alert evaluation failed");
                }
            }
        });
    }

    /// One evaluation of every rule at the clock's now: records and notifies the firings this
    /// instance claimed and the resolutions it made. Answers how many it notified.
    pub async fn evaluate(&self) -> Result<usize, Error> {
        let now = self.core.now();
        let rules = self.store.alert_rules().await.map_err(Error::store)?;
        let recent = self.store.firings(RECENT_FIRINGS).await.map_err(Error::store)?;
        let mut notified = 0;
        for rule in &rules {
            let values = match rule.metric {
                AlertMetric::QuotaPercent => self.quota_values(rule).await?,
                _ => vec![(rule.user.clone(), self.usage_value(rule, now).await?)],
            };
            for (user, value) in values {
                let active: Vec<&Firing> = recent
                    .iter()
                    .filter(|f| f.state == FiringState::Firing && f.same_subject(&rule.name, user.as_ref()))
                    .collect();
                let window_start = rule.window_start(now);
                if rule.comparison.holds(value, rule.threshold) {
                    if active.iter().any(|f| f.window_start == window_start) {
                        continue;
                    }
                    let firing = Firing {
                        rule: rule.name.clone(),
                        metric: rule.metric,
                        user,
                        model: rule.model.as_ref().and_then(|m| m.model()).map(str::to_owned),
                        window_start,
                        window: rule.window,
                        value,
                        threshold: rule.threshold,
                        fired_at: now,
                        state: FiringState::Firing,
                        resolved_at: None,
                    };
                    if self.store.claim_firing(&firing).await.map_err(Error::store)? {
                        // Firings of earlier windows end quietly: the condition is still on.
                        for old in active {
                            self.store.resolve_firing(&old.id(), now).await.map_err(Error::store)?;
                        }
                        self.notify(&firing);
                        notified += 1;
                    }
                } else {
                    for old in active {
                        if self.store.resolve_firing(&old.id(), now).await.map_err(Error::store)? {
                            let resolved =
                                Firing { value, state: FiringState::Resolved, resolved_at: Some(now), ..old.clone() };
                            self.notify(&resolved);
                            notified += 1;
                        }
                    }
                }
            }
        }
        Ok(notified)
    }

    fn notify(&self, firing: &Firing) {
        tracing::info!(alert = %firing.rule, state = ?firing.state, value = firing.value, "alert");
        deliver(&self.targets, Notification::of(firing), self.core.metrics());
    }

    /// The rule's metric over its current window, for its user (or everyone) and model.
    async fn usage_value(&self, rule: &AlertRule, now: Timestamp) -> Result<f64, Error> {
        let start = rule.window_start(now);
        let prices = self.core.prices();
        let covers = |model: &str| rule.model.as_ref().is_none_or(|scope| scope.covers(model, prices));
        let mut totals = Totals::default();
        if rule.window.as_secs().is_multiple_of(3_600) {
            let rollups = self.core.events.rollups(start, now, rule.user.as_ref()).await.map_err(Error::store)?;
            for rollup in rollups.iter().filter(|r| covers(&r.model)) {
                totals.add(&rollup.totals);
            }
        } else {
            let query = EventQuery { user: rule.user.clone(), before: EventId::after(now), limit: WINDOW_EVENTS };
            let events = self.core.events.events(&query).await.map_err(Error::store)?;
            for event in events.iter().filter(|e| e.at >= start && covers(&e.model)) {
                totals.add(&Totals::of(event));
            }
        }
        Ok(match rule.metric {
            AlertMetric::InputTokens => totals.input_tokens as f64,
            AlertMetric::OutputTokens => totals.output_tokens as f64,
            AlertMetric::Invocations => totals.calls as f64,
            AlertMetric::Errors => totals.errors as f64,
            AlertMetric::MeanLatencyMs => totals.mean_latency_ms().unwrap_or(0.0),
            AlertMetric::Cost => totals.cost.dollars(),
            AlertMetric::QuotaPercent => 0.0,
        })
    }

    /// The fullest quota (in percent) of the rule's user, or of every user.
    async fn quota_values(&self, rule: &AlertRule) -> Result<Vec<(Option<UserId>, f64)>, Error> {
        let users = match &rule.user {
            Some(user) => vec![user.clone()],
            None => self.core.accounts.users().await.map_err(Error::store)?.into_iter().map(|u| u.id).collect(),
        };
        let service = Principal::Admin { key: None };
        let mut values = Vec::with_capacity(users.len());
        for user in users {
            let status = match self.quotas.status(&service, &user).await {
                Ok(status) => status,
                // Deleted since it was listed.
                Err(Error::UserNotFound(_)) => continue,
                Err(other) => return Err(other),
            };
            let fullest = status.rules.iter().map(|r| r.percentage_used()).fold(0.0, f64::max);
            values.push((Some(user), fullest));
        }
        Ok(values)
    }
}
