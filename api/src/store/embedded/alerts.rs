//! Alert rules and firings on the embedded store: table `alerts`, keys `rule|<name>` and
//! `firing|<rule>|<subject>|<window start>`. Claiming and resolving a firing are writes of the
//! single writer, each checked before it changes anything.

use async_trait::async_trait;
use redb::TableHandle;

use super::{
    EmbeddedStore, Write,
    apply::{Applied, Written},
    ports::ReadTable,
    records::{ALERTS, META, decode},
    tables::{Tables, unavailable},
};
use crate::{
    domain::{AlertRule, AlertStore, FIRING_RETENTION, Firing, StoreError, Timestamp},
    store::alert_codec::{StoredAlertRule, StoredFiring},
};

const RULE: &str = "rule|";
const FIRING: &str = "firing|";

fn rule_key(name: &str) -> String {
    format!("{RULE}{name}")
}

fn firing_key(id: &str) -> String {
    format!("{FIRING}{id}")
}

pub(super) fn put_rule(t: &mut Tables<'_>, rule: &AlertRule) -> Applied {
    t.put(ALERTS, &rule_key(&rule.name), &StoredAlertRule::from(rule))?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn delete_rule(t: &mut Tables<'_>, name: &str) -> Applied {
    Ok(if t.remove(ALERTS, &rule_key(name))? { Ok(Written::Nothing) } else { Err(StoreError::NotFound) })
}

pub(super) fn seed_rules(t: &mut Tables<'_>, rules: &[AlertRule]) -> Applied {
    if t.get::<bool>(META, "alerts_seeded")?.is_none() {
        for rule in rules {
            if t.get::<StoredAlertRule>(ALERTS, &rule_key(&rule.name))?.is_none() {
                t.put(ALERTS, &rule_key(&rule.name), &StoredAlertRule::from(rule))?;
            }
        }
        t.put(META, "alerts_seeded", &true)?;
    }
    Ok(Ok(Written::Nothing))
}

pub(super) fn claim_firing(t: &mut Tables<'_>, firing: &Firing) -> Applied {
    let key = firing_key(&firing.id());
    if t.get::<StoredFiring>(ALERTS, &key)?.is_some() {
        return Ok(Ok(Written::Claimed(false)));
    }
    t.put(ALERTS, &key, &StoredFiring::from(firing))?;
    Ok(Ok(Written::Claimed(true)))
}

pub(super) fn resolve_firing(t: &mut Tables<'_>, id: &str, at: Timestamp) -> Applied {
    let key = firing_key(id);
    match t.get::<StoredFiring>(ALERTS, &key)? {
        Some(mut firing) if firing.resolved_ms.is_none() => {
            firing.resolved_ms = Some(at.millis());
            t.put(ALERTS, &key, &firing)?;
            Ok(Ok(Written::Claimed(true)))
        }
        _ => Ok(Ok(Written::Claimed(false))),
    }
}

/// Forgets firings older than [`FIRING_RETENTION`].
pub(super) fn sweep(t: &mut Tables<'_>, now: Timestamp) -> Result<(), StoreError> {
    let oldest = now.minus(FIRING_RETENTION).millis();
    for key in t.keys_with_prefix(ALERTS, FIRING)? {
        if t.get::<StoredFiring>(ALERTS, &key)?.is_some_and(|f| f.fired_ms() < oldest) {
            t.remove(ALERTS, &key)?;
        }
    }
    Ok(())
}

/// The records of the keys that start with `prefix`, in key order (a range read: the other
/// kind of record in the table is neither read nor decoded).
fn with_prefix<T: for<'de> serde::Deserialize<'de>>(table: &ReadTable, prefix: &str) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    for entry in table.range(prefix..).map_err(unavailable)? {
        let (key, value) = entry.map_err(unavailable)?;
        if !key.value().starts_with(prefix) {
            break;
        }
        found.push(decode(ALERTS.name(), value.value())?);
    }
    Ok(found)
}

impl EmbeddedStore {
    async fn write_claim(&self, write: Write) -> Result<bool, StoreError> {
        match self.write(write).await? {
            Written::Claimed(claimed) => Ok(claimed),
            _ => Err(StoreError::Corrupt("a firing write answered no claim".into())),
        }
    }
}

#[async_trait]
impl AlertStore for EmbeddedStore {
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let rules = self.scan(ALERTS, |table| with_prefix::<StoredAlertRule>(table, RULE)).await?;
        rules.into_iter().map(StoredAlertRule::into_rule).collect()
    }

    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<(), StoreError> {
        self.write_nothing(Write::PutAlertRule(rule.clone())).await
    }

    async fn delete_alert_rule(&self, name: &str) -> Result<(), StoreError> {
        self.write_nothing(Write::DeleteAlertRule(name.to_owned())).await
    }

    async fn seed_alert_rules(&self, rules: &[AlertRule]) -> Result<(), StoreError> {
        self.write_nothing(Write::SeedAlertRules(rules.to_vec())).await
    }

    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError> {
        self.write_claim(Write::ClaimFiring(firing.clone())).await
    }

    async fn resolve_firing(&self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
        self.write_claim(Write::ResolveFiring(id.to_owned(), at)).await
    }

    async fn firings(&self, limit: usize) -> Result<Vec<Firing>, StoreError> {
        let stored = self.scan(ALERTS, |table| with_prefix::<StoredFiring>(table, FIRING)).await?;
        let mut firings = stored.into_iter().map(StoredFiring::into_firing).collect::<Result<Vec<_>, _>>()?;
        firings.sort_by(|a, b| b.fired_at.cmp(&a.fired_at).then_with(|| b.id().cmp(&a.id())));
        firings.truncate(limit);
        Ok(firings)
    }
}
