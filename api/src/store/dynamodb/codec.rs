//! Items to domain values and back. Anything that cannot be read back is corrupt data (a bug
//! or a foreign writer), never an outage.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    expr::{n, s},
    schema::*,
};
use crate::{
    domain::{
        Amounts, ApiKey, Counter, Hold, HoldId, IdempotencyClaim, IdempotencyKey, IdempotencyRecord, IdempotencyState,
        KeyId, Money, Role, StoreError, StoredTier, Tier, TierName, Timestamp, TokenLimit, User, UserId,
    },
    store::codec::{decode_rules, encode_rules, parse_counter_key},
};

pub(super) type Item = HashMap<String, AttributeValue>;

/// Reads one item's attributes, saying which item is corrupt when one is.
pub(super) struct Reader<'a> {
    item: &'a Item,
    what: String,
}

impl<'a> Reader<'a> {
    pub(super) fn new(item: &'a Item) -> Self {
        let id = item.get(PK).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
        Self { item, what: format!("item '{id}'") }
    }

    pub(super) fn corrupt(&self, why: impl std::fmt::Display) -> StoreError {
        corrupt(&self.what, why)
    }

    pub(super) fn text(&self, name: &str) -> Result<&'a str, StoreError> {
        self.maybe_text(name)?.ok_or_else(|| self.corrupt(format_args!("`{name}` is missing")))
    }

    pub(super) fn maybe_text(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(v) => {
                v.as_s().map(|s| Some(s.as_str())).map_err(|_| self.corrupt(format_args!("`{name}` is not a string")))
            }
        }
    }

    /// A whole number that fits 64 bits; absent is zero.
    pub(super) fn number(&self, name: &str) -> Result<u64, StoreError> {
        match self.item.get(name) {
            None => Ok(0),
            Some(v) => {
                let text = v.as_n().map_err(|_| self.corrupt(format_args!("`{name}` is not a number")))?;
                text.parse().map_err(|e| self.corrupt(format_args!("`{name}` = {text}: {e}")))
            }
        }
    }

    pub(super) fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        let text = self.text(name)?;
        text.parse().map_err(|e| self.corrupt(e))
    }

    fn amounts(&self, names: &Metrics) -> Result<Amounts, StoreError> {
        Ok(Amounts {
            tokens: self.number(names.tokens)?,
            requests: self.number(names.requests)?,
            cost: Money::from_nanos(self.number(names.cost)?),
        })
    }

    /// Used and held amounts of an item carrying `used` and [`COMMITTED`] attributes.
    pub(super) fn counter(&self, used: &Metrics) -> Result<Counter, StoreError> {
        let used = self.amounts(used)?;
        let committed = self.amounts(&COMMITTED)?;
        Ok(Counter { used, held: committed.saturating_sub(used) })
    }
}

pub(super) fn decode_user(item: &Item) -> Result<User, StoreError> {
    let r = Reader::new(item);
    let id = UserId::parse(PK, r.text(PK)?).map_err(|e| r.corrupt(e))?;
    let last_updated = r.time(LAST_UPDATED)?;
    Ok(User {
        id,
        token_limit: TokenLimit::new(TOKEN_LIMIT, r.number(TOKEN_LIMIT)?).map_err(|e| r.corrupt(e))?,
        account: r.counter(&ACCOUNT_USED)?,
        last_updated,
        created_at: r.maybe_text(CREATED_AT)?.map_or(Ok(last_updated), |t| t.parse().map_err(|e| r.corrupt(e)))?,
        tier: r.maybe_text(TIER)?.map(|t| TierName::parse(TIER, t)).transpose().map_err(|e| r.corrupt(e))?,
        quotas: r.maybe_text(QUOTAS)?.map(decode_rules).transpose()?.unwrap_or_default(),
        rules_version: r.number(RULES_VERSION)?,
    })
}

/// A new user's item: everything zero but the limit, its rules, and no holds.
pub(super) fn encode_new_user(user: &User) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(user_key(&user.id))),
        (TOKEN_LIMIT.to_owned(), n(user.token_limit.get())),
        (TOKEN_USAGE.to_owned(), n(user.token_usage())),
        (REQUEST_COUNT.to_owned(), n(user.request_count())),
        (TOTAL_COST.to_owned(), n(user.total_cost().nanos())),
        (COMMITTED.tokens.to_owned(), n(user.account.committed().tokens)),
        (COMMITTED.requests.to_owned(), n(user.account.committed().requests)),
        (COMMITTED.cost.to_owned(), n(user.account.committed().cost.nanos())),
        (LAST_UPDATED.to_owned(), s(user.last_updated.to_string())),
        (CREATED_AT.to_owned(), s(user.created_at.to_string())),
        (RULES_VERSION.to_owned(), n(user.rules_version)),
        (KEYS_ISSUED.to_owned(), n(0)),
        (HOLDS.to_owned(), AttributeValue::M(HashMap::new())),
    ]);
    if let Some(tier) = &user.tier {
        item.insert(TIER.to_owned(), s(tier.to_string()));
    }
    if !user.quotas.is_empty() {
        item.insert(QUOTAS.to_owned(), s(encode_rules(&user.quotas)));
    }
    item
}

pub(super) fn encode_hold(hold: &Hold) -> AttributeValue {
    let mut fields = HashMap::from([
        (HOLD_TOKENS.to_owned(), n(hold.amounts.tokens)),
        (HOLD_REQUESTS.to_owned(), n(hold.amounts.requests)),
        (HOLD_COST.to_owned(), n(hold.amounts.cost.nanos())),
        (HOLD_EXPIRES.to_owned(), n(hold.expires_at.millis())),
    ]);
    if !hold.counters.is_empty() {
        let keys = hold.counters.iter().map(|k| s(crate::store::codec::counter_key(k))).collect();
        fields.insert(HOLD_COUNTERS.to_owned(), AttributeValue::L(keys));
    }
    AttributeValue::M(fields)
}

pub(super) fn decode_holds(item: &Item) -> Result<Vec<Hold>, StoreError> {
    let Some(holds) = item.get(HOLDS).and_then(|v| v.as_m().ok()) else { return Ok(Vec::new()) };
    let r = Reader::new(item);
    holds
        .iter()
        .map(|(id, hold)| {
            let fields = hold.as_m().map_err(|_| r.corrupt(format_args!("hold {id} is not a map")))?;
            let hold_reader = Reader { item: fields, what: format!("hold {id}") };
            let counters = match fields.get(HOLD_COUNTERS) {
                None => Vec::new(),
                Some(list) => list
                    .as_l()
                    .map_err(|_| hold_reader.corrupt("its counters are not a list"))?
                    .iter()
                    .map(|k| {
                        k.as_s()
                            .map_err(|_| hold_reader.corrupt("a counter is not a string"))
                            .and_then(|k| parse_counter_key(k))
                    })
                    .collect::<Result<_, _>>()?,
            };
            let expires = hold_reader.number(HOLD_EXPIRES)?;
            Ok(Hold {
                id: HoldId::from_stored(id.clone()),
                amounts: Amounts {
                    tokens: hold_reader.number(HOLD_TOKENS)?,
                    requests: hold_reader.number(HOLD_REQUESTS)?,
                    cost: Money::from_nanos(hold_reader.number(HOLD_COST)?),
                },
                counters,
                expires_at: Timestamp::from_millis(i64::try_from(expires).unwrap_or(i64::MAX)),
            })
        })
        .collect()
}

pub(super) fn encode_key(key: &ApiKey) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(api_key_key(&key.id))),
        (KEY_SHA256.to_owned(), s(key.secret_hash.iter().map(|b| format!("{b:02x}")).collect::<String>())),
        (CREATED_AT.to_owned(), s(key.created_at.to_string())),
    ]);
    if let Role::User(owner) = &key.role {
        item.insert(KEY_OWNER.to_owned(), s(owner.to_string()));
        item.insert(GSI1_PK.to_owned(), s(keys_of(owner)));
        item.insert(GSI1_SK.to_owned(), s(key.id.to_string()));
    }
    if let Some(label) = &key.label {
        item.insert(KEY_LABEL.to_owned(), s(label.clone()));
    }
    if let Some(revoked) = key.revoked_at {
        item.insert(REVOKED_AT.to_owned(), s(revoked.to_string()));
    }
    item
}

pub(super) fn decode_key(item: &Item) -> Result<ApiKey, StoreError> {
    let r = Reader::new(item);
    let raw = r.text(PK)?;
    let id = raw.strip_prefix("apikey#").and_then(KeyId::parse).ok_or_else(|| r.corrupt("bad key ID"))?;
    let hex = r.text(KEY_SHA256)?;
    if hex.len() != 64 {
        return Err(r.corrupt("bad hash"));
    }
    let mut secret_hash = [0u8; 32];
    for (i, byte) in secret_hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| r.corrupt("bad hash"))?;
    }
    let role = match r.maybe_text(KEY_OWNER)? {
        None => Role::Admin,
        Some(owner) => Role::User(UserId::parse(KEY_OWNER, owner).map_err(|e| r.corrupt(e))?),
    };
    Ok(ApiKey {
        id,
        secret_hash,
        role,
        label: r.maybe_text(KEY_LABEL)?.map(str::to_owned),
        created_at: r.time(CREATED_AT)?,
        revoked_at: r.maybe_text(REVOKED_AT)?.map(|t| t.parse().map_err(|e| r.corrupt(e))).transpose()?,
    })
}

pub(super) fn decode_tier(item: &Item) -> Result<StoredTier, StoreError> {
    let r = Reader::new(item);
    let name = r.text(PK)?.strip_prefix("tier#").ok_or_else(|| r.corrupt("bad tier key"))?;
    Ok(StoredTier {
        tier: Tier {
            name: TierName::parse("tier", name).map_err(|e| r.corrupt(e))?,
            rules: decode_rules(r.text(RULES)?)?,
        },
        version: r.number(VERSION)?,
        members: r.number(MEMBERS)?,
    })
}

pub(super) fn encode_claim(claim: &IdempotencyClaim, state: &IdempotencyState) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(claim_key(&claim.scope, claim.key.as_str()))),
        (FINGERPRINT.to_owned(), s(claim.fingerprint.clone())),
        (EXPIRES.to_owned(), n(claim.expires_at.millis())),
        (TTL.to_owned(), n(claim.expires_at.seconds())),
    ]);
    if let IdempotencyState::Applied(outcome) = state {
        item.insert(APPLIED.to_owned(), AttributeValue::Bool(true));
        if let Some(outcome) = outcome {
            item.insert(OUTCOME.to_owned(), s(outcome.to_string()));
        }
    }
    item
}

pub(super) fn decode_claim(item: &Item, scope: &str, key: &str) -> Result<IdempotencyRecord, StoreError> {
    let r = Reader::new(item);
    let applied = matches!(item.get(APPLIED), Some(AttributeValue::Bool(true)));
    let outcome =
        r.maybe_text(OUTCOME)?.map(|text| serde_json::from_str(text).map_err(|e| r.corrupt(e))).transpose()?;
    Ok(IdempotencyRecord {
        claim: IdempotencyClaim {
            scope: scope.to_owned(),
            key: IdempotencyKey::parse(key).map_err(|e| r.corrupt(e))?,
            fingerprint: r.text(FINGERPRINT)?.to_owned(),
            expires_at: Timestamp::from_millis(i64::try_from(r.number(EXPIRES)?).unwrap_or(i64::MAX)),
        },
        state: if applied { IdempotencyState::Applied(outcome) } else { IdempotencyState::Pending },
    })
}
