//! The table's format: its key schema and indexes, the attribute names, and the partition key
//! of every kind of item. One table holds them all; `#` never occurs in a user ID, so the
//! prefixed keys of other items cannot collide with a user's.
//!
//! | item | partition key (`userId`) | indexes |
//! | --- | --- | --- |
//! | user | `<userId>` | |
//! | counter | `ctr#<userId>#<window>#<scope>` | |
//! | API key | `apikey#<keyId>` | `byOwner`: `keys#<userId>` |
//! | tier | `tier#<name>` | |
//! | idempotency claim | `idem#<scope>#<key>` | |
//! | usage event | `evt#<eventId>` | `byOwner`: `evt#<userId>` / `<eventId>`; `byTime`: `evt#<day>` / `<eventId>` |
//! | user roll-up | `roll#<hour>#<userId>#<model>` | `byOwner`: `roll#<userId>` / `<hour>#<model>` |
//! | model roll-up | `rollm#<hour>#<model>#<shard>` | `byTime`: `rollm#<day>` / `<hour>#<model>#<shard>` |
//! | conversations of a user | `convs#<userId>` | |
//! | conversation turn | `cturn#<conversationId>#<seq>` | |
//! | marker | `meta#<name>` | |
//!
//! `ttl` (epoch seconds) lets DynamoDB forget period counters, claims, events and roll-ups.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use crate::domain::{CounterKey, EventId, KeyId, StoreError, Timestamp, UserId};

/// The partition key of every item.
pub(super) const PK: &str = "userId";
pub(super) const GSI1: &str = "byOwner";
pub(super) const GSI1_PK: &str = "gsi1pk";
pub(super) const GSI1_SK: &str = "gsi1sk";
pub(super) const GSI2: &str = "byTime";
pub(super) const GSI2_PK: &str = "gsi2pk";
pub(super) const GSI2_SK: &str = "gsi2sk";
pub(super) const TTL: &str = "ttl";

// A user's attributes. Used amounts only grow (`ADD`); `committed*` is used plus what calls in
// flight hold, kept current by every write so conditions can compare it without arithmetic.
pub(super) const TOKEN_LIMIT: &str = "tokenLimit";
pub(super) const TOKEN_USAGE: &str = "tokenUsage";
pub(super) const REQUEST_COUNT: &str = "requestCount";
/// Nano-dollars.
pub(super) const TOTAL_COST: &str = "totalCost";
pub(super) const LAST_UPDATED: &str = "lastUpdated";
pub(super) const CREATED_AT: &str = "createdAt";
pub(super) const TIER: &str = "tier";
/// The user's own rules, as JSON.
pub(super) const QUOTAS: &str = "quotas";
pub(super) const RULES_VERSION: &str = "rulesVersion";
/// Bumped by every key issued for the user: deleting the user checks it did not move.
pub(super) const KEYS_ISSUED: &str = "keysIssued";
/// Hold ID → `{t, r, c, ctr, exp}`.
pub(super) const HOLDS: &str = "holds";

/// The three metrics' names, used and committed, on users (account) and counters alike.
pub(super) struct Metrics {
    pub(super) tokens: &'static str,
    pub(super) requests: &'static str,
    pub(super) cost: &'static str,
}

pub(super) const ACCOUNT_USED: Metrics = Metrics { tokens: TOKEN_USAGE, requests: REQUEST_COUNT, cost: TOTAL_COST };
pub(super) const COUNTER_USED: Metrics = Metrics { tokens: "usedTokens", requests: "usedRequests", cost: "usedCost" };
pub(super) const COMMITTED: Metrics =
    Metrics { tokens: "committedTokens", requests: "committedRequests", cost: "committedCost" };

// A hold's fields.
pub(super) const HOLD_TOKENS: &str = "t";
pub(super) const HOLD_REQUESTS: &str = "r";
pub(super) const HOLD_COST: &str = "c";
pub(super) const HOLD_COUNTERS: &str = "ctr";
pub(super) const HOLD_EXPIRES: &str = "exp";

// Other items' attributes.
pub(super) const KEY_SHA256: &str = "secretSha256";
pub(super) const KEY_OWNER: &str = "ownerUserId";
pub(super) const KEY_LABEL: &str = "label";
pub(super) const REVOKED_AT: &str = "revokedAt";
pub(super) const RULES: &str = "rules";
pub(super) const VERSION: &str = "version";
pub(super) const MEMBERS: &str = "members";
pub(super) const FINGERPRINT: &str = "fingerprint";
pub(super) const APPLIED: &str = "applied";
pub(super) const OUTCOME: &str = "outcome";
pub(super) const EXPIRES: &str = "expiresAt";
/// An event or a roll-up's sums, as JSON.
pub(super) const BODY: &str = "body";

/// Model roll-ups are spread over this many items per hour, so that busy models do not meet
/// DynamoDB's per-item write limit.
pub(super) const MODEL_SHARDS: u32 = 8;

pub(super) fn user_key(id: &UserId) -> String {
    id.to_string()
}

pub(super) fn counter_key(user: &UserId, key: &CounterKey) -> String {
    format!("ctr#{user}#{}#{}", key.window, key.scope)
}

pub(super) fn counter_prefix(user: &UserId) -> String {
    format!("ctr#{user}#")
}

pub(super) fn api_key_key(id: &KeyId) -> String {
    format!("apikey#{id}")
}

pub(super) fn keys_of(user: &UserId) -> String {
    format!("keys#{user}")
}

pub(super) fn tier_key(name: &str) -> String {
    format!("tier#{name}")
}

pub(super) fn claim_key(scope: &str, key: &str) -> String {
    format!("idem#{scope}#{key}")
}

pub(super) fn event_key(id: &EventId) -> String {
    format!("evt#{id}")
}

pub(super) fn events_of(user: &UserId) -> String {
    format!("evt#{user}")
}

pub(super) fn events_on(day: Timestamp) -> String {
    format!("evt#{}", day.day_label())
}

pub(super) fn hour_label(hour: Timestamp) -> String {
    format!("{:013}", hour.hour_start().millis())
}

pub(super) fn user_rollup_key(hour: Timestamp, user: &UserId, model: &str) -> String {
    format!("roll#{}#{user}#{model}", hour_label(hour))
}

pub(super) fn rollups_of(user: &UserId) -> String {
    format!("roll#{user}")
}

pub(super) fn model_rollup_key(hour: Timestamp, model: &str, shard: u32) -> String {
    format!("rollm#{}#{model}#{shard}", hour_label(hour))
}

pub(super) fn model_rollups_on(day: Timestamp) -> String {
    format!("rollm#{}", day.day_label())
}

pub(super) const TIERS_SEEDED: &str = "meta#tiers-seeded";

pub(super) fn corrupt(what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("DynamoDB {what}: {why}"))
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("name and type are set")
}

fn index(name: &str, pk: &str, sk: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(sk, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .expect("name, keys and projection are set")
}

/// Creates the table as the service needs it: on-demand, keyed by `userId`, with its two
/// indexes.
pub(super) fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(string_attribute(PK))
        .attribute_definitions(string_attribute(GSI1_PK))
        .attribute_definitions(string_attribute(GSI1_SK))
        .attribute_definitions(string_attribute(GSI2_PK))
        .attribute_definitions(string_attribute(GSI2_SK))
        .key_schema(key(PK, KeyType::Hash))
        .global_secondary_indexes(index(GSI1, GSI1_PK, GSI1_SK))
        .global_secondary_indexes(index(GSI2, GSI2_PK, GSI2_SK))
        .billing_mode(BillingMode::PayPerRequest)
}

/// Turns on DynamoDB's expiry of items by their `ttl`.
pub(super) fn time_to_live() -> TimeToLiveSpecification {
    TimeToLiveSpecification::builder().attribute_name(TTL).enabled(true).build().expect("name and switch are set")
}
