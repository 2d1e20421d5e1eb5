//! The bytes the embedded store keeps: one JSON record per user, counter, key, tier and
//! idempotency claim. Field names are short and stable: this is the file format.

use std::collections::BTreeMap;

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        ApiKey, Counter, CounterKey, Hold, HoldId, IdempotencyClaim, IdempotencyKey, IdempotencyRecord,
        IdempotencyState, KeyId, Role, StoreError, StoredTier, Tier, TierName, Timestamp, TokenLimit, User, UserId,
    },
    store::codec::{StoredAmounts, corrupt, counter_key, decode_rules, encode_rules, parse_counter_key},
};

pub(super) type Table = TableDefinition<'static, &'static str, &'static [u8]>;

pub(super) const USERS: Table = TableDefinition::new("users");
/// `user|window|scope` → [`CounterRecord`].
pub(super) const COUNTERS: Table = TableDefinition::new("counters");
pub(super) const KEYS: Table = TableDefinition::new("keys");
pub(super) const TIERS: Table = TableDefinition::new("tiers");
pub(super) const META: Table = TableDefinition::new("meta");
/// `scope|key` → [`ClaimRecord`].
pub(super) const IDEMPOTENCY: Table = TableDefinition::new("idempotency");
/// event ID (time-ordered) → the event as JSON.
pub(super) const EVENTS: Table = TableDefinition::new("events");
/// `user|event ID` → nothing: the events of one user, in time order.
pub(super) const EVENTS_BY_USER: Table = TableDefinition::new("events_by_user");
/// `hour|user|model` → roll-up sums; `hour|*|model` holds the model's across users.
pub(super) const ROLLUPS: Table = TableDefinition::new("rollups");

/// `rule|<name>` → alert rule; `firing|<rule>|<subject>|<window start>` → firing.
pub(super) const ALERTS: Table = TableDefinition::new("alerts");

pub(super) const ALL_TABLES: [Table; 12] = [
    USERS,
    COUNTERS,
    KEYS,
    TIERS,
    META,
    IDEMPOTENCY,
    EVENTS,
    EVENTS_BY_USER,
    ROLLUPS,
    ALERTS,
    super::conversations::CONVERSATIONS,
    super::conversations::CONVERSATION_TURNS,
];

pub(super) fn decode<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e))
}

pub(super) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("a record always serializes")
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredHold {
    pub(super) amounts: StoredAmounts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) counters: Vec<String>,
    pub(super) expires_ms: i64,
}

/// A user's record.
#[derive(Serialize, Deserialize)]
pub(super) struct UserRecord {
    pub(super) limit: u64,
    pub(super) used: StoredAmounts,
    #[serde(default)]
    pub(super) held: StoredAmounts,
    pub(super) updated_ms: i64,
    #[serde(default)]
    pub(super) created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) quotas: Option<String>,
    #[serde(default)]
    pub(super) rules_version: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) holds: BTreeMap<String, StoredHold>,
}

impl UserRecord {
    pub(super) fn new(user: &User) -> Self {
        Self {
            limit: user.token_limit.get(),
            used: user.account.used.into(),
            held: user.account.held.into(),
            updated_ms: user.last_updated.millis(),
            created_ms: user.created_at.millis(),
            tier: user.tier.as_ref().map(|t| t.to_string()),
            quotas: (!user.quotas.is_empty()).then(|| encode_rules(&user.quotas)),
            rules_version: user.rules_version,
            holds: BTreeMap::new(),
        }
    }

    pub(super) fn to_user(&self, id: &UserId) -> Result<User, StoreError> {
        let what = format!("user '{id}'");
        Ok(User {
            id: id.clone(),
            token_limit: TokenLimit::new("tokenLimit", self.limit).map_err(|e| corrupt(&what, e))?,
            account: Counter { used: self.used.into(), held: self.held.into() },
            last_updated: Timestamp::from_millis(self.updated_ms),
            created_at: Timestamp::from_millis(self.created_ms),
            tier: self
                .tier
                .as_deref()
                .map(|t| TierName::parse("tier", t))
                .transpose()
                .map_err(|e| corrupt(&what, e))?,
            quotas: self.quotas.as_deref().map(decode_rules).transpose()?.unwrap_or_default(),
            rules_version: self.rules_version,
        })
    }

    pub(super) fn hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        let Some(stored) = self.holds.get(id) else { return Ok(None) };
        Ok(Some(Hold {
            id: HoldId::from_stored(id.to_owned()),
            amounts: stored.amounts.into(),
            counters: stored.counters.iter().map(|k| parse_counter_key(k)).collect::<Result<_, _>>()?,
            expires_at: Timestamp::from_millis(stored.expires_ms),
        }))
    }

    pub(super) fn store_hold(&mut self, hold: &Hold) {
        let stored = StoredHold {
            amounts: hold.amounts.into(),
            counters: hold.counters.iter().map(counter_key).collect(),
            expires_ms: hold.expires_at.millis(),
        };
        self.holds.insert(hold.id.to_string(), stored);
    }
}

/// One counter of one user.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct CounterRecord {
    pub(super) used: StoredAmounts,
    #[serde(default)]
    pub(super) held: StoredAmounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) expires_ms: Option<i64>,
}

impl CounterRecord {
    pub(super) fn counter(&self) -> Counter {
        Counter { used: self.used.into(), held: self.held.into() }
    }
}

pub(super) fn counter_id(user: &UserId, key: &CounterKey) -> String {
    format!("{user}|{}", counter_key(key))
}

/// The bytes stored per API key: the secret only as its SHA-256 hash.
#[derive(Serialize, Deserialize)]
pub(super) struct KeyRecord {
    sha256: String,
    /// `None` for admin keys, the user's ID for user keys.
    pub(super) user: Option<String>,
    label: Option<String>,
    created_ms: i64,
    pub(super) revoked_ms: Option<i64>,
}

impl KeyRecord {
    pub(super) fn new(key: &ApiKey) -> Self {
        Self {
            sha256: key.secret_hash.iter().map(|b| format!("{b:02x}")).collect(),
            user: match &key.role {
                Role::Admin => None,
                Role::User(user) => Some(user.to_string()),
            },
            label: key.label.clone(),
            created_ms: key.created_at.millis(),
            revoked_ms: key.revoked_at.map(Timestamp::millis),
        }
    }

    pub(super) fn to_key(&self, id: KeyId) -> Result<ApiKey, StoreError> {
        let what = format!("API key '{id}'");
        let mut secret_hash = [0u8; 32];
        if self.sha256.len() != 64 {
            return Err(corrupt(&what, "the hash is not 32 bytes"));
        }
        for (i, byte) in secret_hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.sha256[2 * i..2 * i + 2], 16).map_err(|e| corrupt(&what, e))?;
        }
        let role = match &self.user {
            None => Role::Admin,
            Some(user) => Role::User(UserId::parse("userId", user).map_err(|e| corrupt(&what, e))?),
        };
        Ok(ApiKey {
            secret_hash,
            role,
            label: self.label.clone(),
            created_at: Timestamp::from_millis(self.created_ms),
            revoked_at: self.revoked_ms.map(Timestamp::from_millis),
            id,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct TierRecord {
    pub(super) rules: String,
    pub(super) version: u64,
    pub(super) members: u64,
}

impl TierRecord {
    pub(super) fn to_tier(&self, name: &str) -> Result<StoredTier, StoreError> {
        let name = TierName::parse("tier", name).map_err(|e| corrupt("tier name", e))?;
        Ok(StoredTier {
            tier: Tier { name, rules: decode_rules(&self.rules)? },
            version: self.version,
            members: self.members,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ClaimRecord {
    fingerprint: String,
    expires_ms: i64,
    applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<serde_json::Value>,
}

impl ClaimRecord {
    pub(super) fn new(claim: &IdempotencyClaim, state: IdempotencyState) -> Self {
        let (applied, outcome) = match state {
            IdempotencyState::Pending => (false, None),
            IdempotencyState::Applied(outcome) => (true, outcome),
        };
        Self { fingerprint: claim.fingerprint.clone(), expires_ms: claim.expires_at.millis(), applied, outcome }
    }

    pub(super) fn expired(&self, now: Timestamp) -> bool {
        self.expires_ms < now.millis()
    }

    pub(super) fn to_record(&self, scope: &str, key: &str) -> Result<IdempotencyRecord, StoreError> {
        let key = IdempotencyKey::parse(key).map_err(|e| corrupt("idempotency key", e))?;
        let claim = IdempotencyClaim {
            scope: scope.to_owned(),
            key,
            fingerprint: self.fingerprint.clone(),
            expires_at: Timestamp::from_millis(self.expires_ms),
        };
        let state = match self.applied {
            false => IdempotencyState::Pending,
            true => IdempotencyState::Applied(self.outcome.clone()),
        };
        Ok(IdempotencyRecord { claim, state })
    }
}

pub(super) fn claim_id(scope: &str, key: &str) -> String {
    format!("{scope}|{key}")
}
