//! Alert rules and firings on DynamoDB: items `alertrule#<name>` (the rule's JSON in `body`)
//! and `firing#<rule>|<subject>|<window start>`, listed newest first through the time index
//! (partition `firings`) and forgotten by TTL after 30 days. A firing is claimed with a
//! `PutItem` conditional on its absence and resolved with an `UpdateItem` conditional on its
//! still firing: of several instances, exactly one wins each.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{
    DynamoDbStore, Sort,
    codec::{Item, Reader},
    expr::{Change, n, s},
    schema::*,
};
use crate::{
    domain::{AlertRule, AlertStore, FIRING_RETENTION, Firing, StoreError, Timestamp},
    store::alert_codec::{StoredAlertRule, StoredFiring},
};

const RULE: &str = "alertrule#";
const ALERTS_SEEDED: &str = "meta#alerts-seeded";
const FIRINGS: &str = "firings";
const RESOLVED_AT: &str = "resolvedAt";

fn rule_key(name: &str) -> String {
    format!("{RULE}{name}")
}

fn firing_key(id: &str) -> String {
    format!("firing#{id}")
}

fn rule_item(rule: &AlertRule) -> Item {
    let body = serde_json::to_string(&StoredAlertRule::from(rule)).expect("a rule always serializes");
    HashMap::from([(PK.to_owned(), s(rule_key(&rule.name))), (BODY.to_owned(), s(body))])
}

fn decode_rule(item: &Item) -> Result<AlertRule, StoreError> {
    let r = Reader::new(item);
    let stored: StoredAlertRule = serde_json::from_str(r.text(BODY)?).map_err(|e| r.corrupt(e))?;
    stored.into_rule()
}

fn decode_firing(item: &Item) -> Result<Firing, StoreError> {
    let r = Reader::new(item);
    let mut stored: StoredFiring = serde_json::from_str(r.text(BODY)?).map_err(|e| r.corrupt(e))?;
    if item.contains_key(RESOLVED_AT) {
        stored.resolved_ms = Some(i64::try_from(r.number(RESOLVED_AT)?).map_err(|e| r.corrupt(e))?);
    }
    stored.into_firing()
}

#[async_trait]
impl AlertStore for DynamoDbStore {
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let mut filter = Change::new();
        filter.require_prefix(PK, s(RULE));
        let mut rules = self.scan(&filter).await?.iter().map(decode_rule).collect::<Result<Vec<_>, _>>()?;
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rules)
    }

    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<(), StoreError> {
        self.put(rule_item(rule), &Change::new()).await.map(drop)
    }

    /// `DeleteItem` conditional on the rule's existence.
    async fn delete_alert_rule(&self, name: &str) -> Result<(), StoreError> {
        let mut exists = Change::new();
        exists.require_exists(&[PK]);
        let items = vec![self.tx_delete(&rule_key(name), &exists)];
        match self.transact(items).await? {
            super::retry::Written::Applied(()) => Ok(()),
            super::retry::Written::Refused(_) => Err(StoreError::NotFound),
        }
    }

    /// Each rule `PutItem` if absent, then the marker that they were seeded.
    async fn seed_alert_rules(&self, rules: &[AlertRule]) -> Result<(), StoreError> {
        if self.get(ALERTS_SEEDED).await?.is_some() {
            return Ok(());
        }
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        for rule in rules {
            self.put(rule_item(rule), &absent).await?;
        }
        let marker = HashMap::from([(PK.to_owned(), s(ALERTS_SEEDED))]);
        self.put(marker, &Change::new()).await.map(drop)
    }

    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError> {
        let id = firing.id();
        let body = serde_json::to_string(&StoredFiring::from(firing)).expect("a firing always serializes");
        let item = HashMap::from([
            (PK.to_owned(), s(firing_key(&id))),
            (BODY.to_owned(), s(body)),
            (GSI2_PK.to_owned(), s(FIRINGS)),
            (GSI2_SK.to_owned(), s(format!("{:013x}#{id}", firing.fired_at.millis().max(0)))),
            (TTL.to_owned(), n(firing.fired_at.plus(FIRING_RETENTION).seconds())),
        ]);
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        self.put(item, &absent).await
    }

    async fn resolve_firing(&self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
        let mut change = Change::new();
        change.set(&[RESOLVED_AT], n(at.millis())).require_exists(&[PK]).require_absent(&[RESOLVED_AT]);
        Ok(self.update(&firing_key(id), &change).await?.is_some())
    }

    async fn firings(&self, limit: usize) -> Result<Vec<Firing>, StoreError> {
        let items = self.query((GSI2, GSI2_PK, GSI2_SK), FIRINGS, Sort::All, true, limit).await?;
        items.iter().map(decode_firing).collect()
    }
}
