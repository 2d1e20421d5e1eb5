//! The production store: one DynamoDB table, one item per user, every change one conditional
//! request (no read-modify-write).
//!
//! Item schema (partition key `userId`, no sort key):
//!
//! | attribute     | type | meaning |
//! | ------------- | ---- | ------- |
//! | `userId`      | S    | the user ID (partition key) |
//! | `tokenLimit`  | N    | the token limit, a positive integer |
//! | `tokenUsage`  | N    | tokens recorded so far, only ever changed by `ADD` |
//! | `totalCost`   | N    | money spent, in integer **nano-dollars** (10^-9 USD, [`Money::nanos`]), only ever changed by `ADD` |
//! | `lastUpdated` | S    | ISO-8601 UTC with milliseconds, as [`Timestamp`] renders it |
//!
//! Failures: a condition that fails is an answer ([`StoreError::NotFound`] or
//! [`StoreError::AlreadyExists`]), never an outage. A store that cannot be reached, times out,
//! throttles or fails with a 5xx is [`StoreError::Unavailable`], after a bounded number of
//! attempts with short timeouts, so a caller learns of an outage within the operation timeout
//! ([`DEFAULT_OPERATION_TIMEOUT`], 3 s, unless `TOKENMETER_STORE_TIMEOUT_MS` says otherwise).
//!
//! Retries never apply a write twice: reads are retried by the SDK's standard retry strategy,
//! but a write is retried only when DynamoDB cannot have applied it (the connection was
//! refused or never established, or the request was throttled). A write that times out after
//! it was sent is reported as unavailable and not retried: it may or may not have been applied.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_config::{ConfigLoader, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue, ScalarAttributeType,
        TableStatus,
    },
};

use crate::domain::{
    ApiKey, Hold, HoldId, KeyId, KeyStore, Money, Role, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId,
    UserStore,
};

/// Attribute names: this is the table's format.
const USER_ID: &str = "userId";
const TOKEN_LIMIT: &str = "tokenLimit";
const TOKEN_USAGE: &str = "tokenUsage";
const TOTAL_COST: &str = "totalCost";
const LAST_UPDATED: &str = "lastUpdated";
/// Tokens held for calls in flight: the sum of `holds`.
const TOKEN_RESERVED: &str = "tokenReserved";
/// `tokenUsage + tokenReserved`, kept so a limit change can recompute the headroom in one write.
const TOKEN_COMMITTED: &str = "tokenCommitted";
/// `tokenLimit − tokenCommitted` (negative once recorded usage passed the limit): what a
/// reservation's condition compares against, since conditions cannot do arithmetic.
const TOKEN_HEADROOM: &str = "tokenHeadroom";
/// The holds of calls in flight: hold ID → `{tokens, expiresAt}` (expiry in epoch milliseconds).
const HOLDS: &str = "holds";
const HOLD_TOKENS: &str = "tokens";
const HOLD_EXPIRES: &str = "expiresAt";

/// API keys share the table under partition keys `apikey#<keyId>`: `#` never occurs in a user
/// ID, so the two kinds of item cannot collide.
const KEY_PREFIX: &str = "apikey#";
const KEY_SHA256: &str = "secretSha256";
const KEY_OWNER: &str = "ownerUserId";
const KEY_LABEL: &str = "label";
const KEY_CREATED: &str = "createdAt";
const REVOKED_AT: &str = "revokedAt";

/// How long one operation, retries included, may take unless configured otherwise
/// (`TOKENMETER_STORE_TIMEOUT_MS`): a caller learns of an outage within this.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest that establishing a connection may take.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per operation, the first included.
const MAX_ATTEMPTS: u32 = 3;
/// How long `open` waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The kinds of item a scan looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Users,
    /// Users with at least one hold.
    UsersHolding,
    Keys,
}

/// Users in a DynamoDB table.
#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

/// The service's AWS config loader ([`crate::aws::sdk_config_loader`]) with the store's
/// timeouts and retries, reading everything else from the standard chain (`AWS_REGION`,
/// credentials, profiles, `AWS_ENDPOINT_URL_DYNAMODB`, …). Tests add a fixed region,
/// credentials and endpoint.
///
/// One operation, retries included, takes at most `operation_timeout`; one attempt at most
/// two thirds of it, which leaves room to retry a connection that was refused.
pub fn sdk_config_loader(operation_timeout: Duration) -> ConfigLoader {
    let attempt_timeout = operation_timeout * 2 / 3;
    crate::aws::sdk_config_loader()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(MAX_CONNECT_TIMEOUT.min(attempt_timeout / 2))
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(operation_timeout)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(500)),
        )
}

impl DynamoDbStore {
    /// Connects to `table`, creating it (on-demand capacity) when it does not exist and
    /// waiting until it is active.
    pub async fn open(config: aws_sdk_dynamodb::Config, table: &str) -> Result<Self, StoreError> {
        let store = Self::connect(config, table);
        store.ensure_table().await?;
        Ok(store)
    }

    /// A store on `table` as it is, without checking or creating it (no request is sent).
    pub fn connect(config: aws_sdk_dynamodb::Config, table: &str) -> Self {
        Self { client: Client::from_conf(config), table: table.to_owned() }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn ensure_table(&self) -> Result<(), StoreError> {
        match self.table_status().await? {
            Some(_) => {}
            None => {
                tracing::info!(table = %self.table, "creating the DynamoDB table");
                let created = self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(USER_ID)
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(USER_ID)
                            .key_type(KeyType::Hash)
                            .build()
                            .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                    )
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await;
                match created {
                    Ok(_) => {}
                    // Another instance created it first.
                    Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
                    Err(err) => return Err(unavailable("CreateTable", err)),
                }
            }
        }
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
        loop {
            if self.table_status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB table '{}' did not become active within {TABLE_ACTIVE_TIMEOUT:?}",
                    self.table
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The table's status, or `None` when it does not exist.
    async fn table_status(&self) -> Result<Option<TableStatus>, StoreError> {
        match self.client.describe_table().table_name(&self.table).send().await {
            Ok(out) => Ok(Some(out.table().and_then(|t| t.table_status()).cloned().unwrap_or(TableStatus::Creating))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(err) => Err(unavailable("DescribeTable", err)),
        }
    }

    fn key(id: &UserId) -> AttributeValue {
        AttributeValue::S(id.as_str().to_owned())
    }

    /// Every item of one kind: a consistent `Scan`, every page (`ExclusiveStartKey` until no
    /// `LastEvaluatedKey`), filtered in DynamoDB.
    async fn scan(&self, kind: Scan) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let filter = match kind {
            Scan::Users => "NOT begins_with(#id, :keys)",
            Scan::UsersHolding => "NOT begins_with(#id, :keys) AND size(#holds) > :none",
            Scan::Keys => "begins_with(#id, :keys)",
        };
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(filter)
                .expression_attribute_names("#id", USER_ID)
                .expression_attribute_values(":keys", AttributeValue::S(KEY_PREFIX.into()))
                .set_exclusive_start_key(start);
            if kind == Scan::UsersHolding {
                request =
                    request.expression_attribute_names("#holds", HOLDS).expression_attribute_values(":none", number(0));
            }
            let page = request.send().await.map_err(|e| unavailable("Scan", e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    /// `PutItem` of a new item (a user or a key): [`StoreError::AlreadyExists`] if an item with
    /// its partition key is there.
    async fn put_new(&self, item: HashMap<String, AttributeValue>) -> Result<(), StoreError> {
        let put = conditional_write("PutItem", || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", USER_ID)
                .customize()
                .config_override(no_sdk_retries())
                .send()
        });
        put.await?.map(drop).ok_or(StoreError::AlreadyExists)
    }

    /// One conditional `UpdateItem` (retried only when it cannot have been applied), answering
    /// the item as it is after the write, or `None` when the condition failed and nothing
    /// changed. Every update of a user or a key goes through here.
    async fn update(
        &self,
        key: AttributeValue,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let names: HashMap<String, String> = names.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let values: HashMap<String, AttributeValue> = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let updated = conditional_write("UpdateItem", || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(USER_ID, key.clone())
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .return_values(ReturnValue::AllNew)
                .customize()
                .config_override(no_sdk_retries())
                .send()
        });
        match updated.await? {
            Some(out) => out
                .attributes
                .map(Some)
                .ok_or_else(|| StoreError::Unavailable("DynamoDB returned no attributes for an update".into())),
            None => Ok(None),
        }
    }

    /// `GetItem` by partition key, strongly consistent.
    async fn get_item(&self, key: AttributeValue) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(USER_ID, key)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item)
    }

    /// Whether `id` exists: only used to explain a failed condition, never to decide a write.
    async fn exists(&self, id: &UserId) -> Result<bool, StoreError> {
        Ok(self.get(id).await?.is_some())
    }
}

#[async_trait]
impl UserStore for DynamoDbStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    /// `PutItem` if `attribute_not_exists(userId)`.
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        self.put_new(encode(user)).await
    }

    /// `GetItem`, strongly consistent.
    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.get_item(Self::key(id)).await?.as_ref().map(decode).transpose()
    }

    /// `Scan` (filtering out key items), strongly consistent, every page; sorted by user ID here
    /// (a scan has no order).
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let mut users = self.scan(Scan::Users).await?.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(users)
    }

    /// `UpdateItem SET tokenLimit, lastUpdated` if `attribute_exists(userId)`, returning the new item.
    async fn set_limit(&self, id: &UserId, limit: TokenLimit, at: Timestamp) -> Result<User, StoreError> {
        let updated = self
            .update(
                Self::key(id),
                "SET #limit = :limit, #headroom = :limit - #committed, #at = :at",
                "attribute_exists(#id)",
                &[
                    ("#id", USER_ID),
                    ("#limit", TOKEN_LIMIT),
                    ("#headroom", TOKEN_HEADROOM),
                    ("#committed", TOKEN_COMMITTED),
                    ("#at", LAST_UPDATED),
                ],
                vec![(":limit", number(limit.get())), (":at", AttributeValue::S(at.to_string()))],
            )
            .await?;
        updated.as_ref().map(decode).unwrap_or(Err(StoreError::NotFound))
    }

    /// `UpdateItem ADD tokenUsage :t, totalCost :c SET lastUpdated` if the user exists and the
    /// usage counter has room, returning the new item.
    async fn add_usage(&self, id: &UserId, tokens: TokenCount, cost: Money, at: Timestamp) -> Result<User, StoreError> {
        let room = u64::MAX - tokens.get();
        let updated = self
            .update(
                Self::key(id),
                "ADD #usage :tokens, #committed :tokens, #headroom :negtokens, #cost :cost SET #at = :at",
                "attribute_exists(#id) AND #usage <= :room",
                &[
                    ("#id", USER_ID),
                    ("#usage", TOKEN_USAGE),
                    ("#committed", TOKEN_COMMITTED),
                    ("#headroom", TOKEN_HEADROOM),
                    ("#cost", TOTAL_COST),
                    ("#at", LAST_UPDATED),
                ],
                vec![
                    (":tokens", number(tokens.get())),
                    (":negtokens", signed(-i128::from(tokens.get()))),
                    (":cost", number(cost.nanos())),
                    (":room", number(room)),
                    (":at", AttributeValue::S(at.to_string())),
                ],
            )
            .await?;
        match updated {
            Some(item) => decode(&item),
            // The write changed nothing; say which condition failed.
            None if self.exists(id).await? => Err(StoreError::Overflow),
            None => Err(StoreError::NotFound),
        }
    }

    /// `DeleteItem` if `attribute_exists(userId)`.
    async fn delete(&self, id: &UserId) -> Result<(), StoreError> {
        let deleted = conditional_write("DeleteItem", || {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(USER_ID, Self::key(id))
                .condition_expression("attribute_exists(#id)")
                .expression_attribute_names("#id", USER_ID)
                .customize()
                .config_override(no_sdk_retries())
                .send()
        });
        deleted.await?.map(drop).ok_or(StoreError::NotFound)
    }

    /// `UpdateItem SET holds.#h ADD tokenReserved, tokenCommitted, tokenHeadroom` if the user
    /// exists and `tokenHeadroom >= :tokens`: one conditional write, so concurrent
    /// reservations can never together pass the limit.
    async fn reserve(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError> {
        let tokens = hold.tokens;
        let updated = self
            .update(
                Self::key(id),
                "SET #holds.#h = :hold ADD #reserved :t, #committed :t, #headroom :negt",
                "attribute_exists(#id) AND #headroom >= :t",
                &[
                    ("#id", USER_ID),
                    ("#holds", HOLDS),
                    ("#h", hold.id.as_str()),
                    ("#reserved", TOKEN_RESERVED),
                    ("#committed", TOKEN_COMMITTED),
                    ("#headroom", TOKEN_HEADROOM),
                ],
                vec![(":hold", encode_hold(hold)), (":t", number(tokens)), (":negt", signed(-i128::from(tokens)))],
            )
            .await?;
        match updated {
            Some(item) => decode(&item),
            None => match self.get(id).await? {
                None => Err(StoreError::NotFound),
                Some(user) => Err(StoreError::InsufficientTokens { available: user.remaining_tokens() }),
            },
        }
    }

    /// `UpdateItem REMOVE holds.#h ADD …` if the hold exists: the hold goes and the real usage
    /// and cost come in one write. If the hold is gone (expired and released), the usage is
    /// added on its own.
    async fn settle(
        &self,
        id: &UserId,
        hold: &Hold,
        tokens: u64,
        cost: Money,
        at: Timestamp,
    ) -> Result<User, StoreError> {
        let delta = i128::from(tokens) - i128::from(hold.tokens);
        let updated = self
            .update(
                Self::key(id),
                "REMOVE #holds.#h ADD #reserved :negheld, #committed :delta, #headroom :negdelta, \
                 #usage :tokens, #cost :cost SET #at = :at",
                "attribute_exists(#holds.#h)",
                &[
                    ("#holds", HOLDS),
                    ("#h", hold.id.as_str()),
                    ("#reserved", TOKEN_RESERVED),
                    ("#committed", TOKEN_COMMITTED),
                    ("#headroom", TOKEN_HEADROOM),
                    ("#usage", TOKEN_USAGE),
                    ("#cost", TOTAL_COST),
                    ("#at", LAST_UPDATED),
                ],
                vec![
                    (":negheld", signed(-i128::from(hold.tokens))),
                    (":delta", signed(delta)),
                    (":negdelta", signed(-delta)),
                    (":tokens", number(tokens)),
                    (":cost", number(cost.nanos())),
                    (":at", AttributeValue::S(at.to_string())),
                ],
            )
            .await?;
        match updated {
            Some(item) => decode(&item),
            None => {
                tracing::warn!(user = %id, hold = %hold.id, "settling a call whose hold had already expired");
                let tokens = TokenCount::new("tokens", tokens).map_err(|_| StoreError::Overflow)?;
                self.add_usage(id, tokens, cost, at).await
            }
        }
    }

    /// `UpdateItem REMOVE holds.#h ADD …` if the hold exists; otherwise nothing changes.
    async fn release(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError> {
        let tokens = i128::from(hold.tokens);
        let updated = self
            .update(
                Self::key(id),
                "REMOVE #holds.#h ADD #reserved :negt, #committed :negt, #headroom :t",
                "attribute_exists(#holds.#h)",
                &[
                    ("#holds", HOLDS),
                    ("#h", hold.id.as_str()),
                    ("#reserved", TOKEN_RESERVED),
                    ("#committed", TOKEN_COMMITTED),
                    ("#headroom", TOKEN_HEADROOM),
                ],
                vec![(":t", signed(tokens)), (":negt", signed(-tokens))],
            )
            .await?;
        match updated {
            Some(item) => decode(&item),
            None => self.get(id).await?.ok_or(StoreError::NotFound),
        }
    }

    /// `Scan` of the users that hold tokens, holds filtered by expiry here.
    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        let mut expired = Vec::new();
        for item in self.scan(Scan::UsersHolding).await? {
            let user = decode(&item)?;
            for hold in decode_holds(&item)? {
                if hold.expires_at < now {
                    expired.push((user.id.clone(), hold));
                }
            }
        }
        Ok(expired)
    }
}

/// API keys live in the users table too, under partition keys `apikey#<keyId>`: `#` never
/// occurs in a user ID, so the two kinds of item cannot collide.
#[async_trait]
impl KeyStore for DynamoDbStore {
    /// `PutItem` if `attribute_not_exists(userId)`.
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.put_new(encode_key(key)).await
    }

    /// `GetItem`, strongly consistent: a revocation is seen by the next request anywhere.
    async fn get_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError> {
        self.get_item(key_item_id(id)).await?.as_ref().map(decode_key).transpose()
    }

    /// `Scan` for `apikey#` items, every page, sorted by key ID.
    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let items = self.scan(Scan::Keys).await?;
        let mut keys = items.iter().map(decode_key).collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    /// `UpdateItem SET revokedAt = if_not_exists(revokedAt, :at)` if the key exists.
    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError> {
        let updated = self
            .update(
                key_item_id(id),
                "SET #revoked = if_not_exists(#revoked, :at)",
                "attribute_exists(#id)",
                &[("#id", USER_ID), ("#revoked", REVOKED_AT)],
                vec![(":at", AttributeValue::S(at.to_string()))],
            )
            .await?;
        updated.as_ref().map(decode_key).unwrap_or(Err(StoreError::NotFound))
    }
}

/// Writes opt out of the SDK's retries: it would also retry a timed-out request that may
/// have been applied. [`conditional_write`] retries only what cannot have been applied.
fn no_sdk_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// Sends a conditional write (the `operation`) up to [`MAX_ATTEMPTS`] times, retrying only
/// when DynamoDB cannot have applied it. `Some(output)` when it was applied, `None` when its
/// condition failed and nothing changed; any other failure is [`StoreError::Unavailable`].
async fn conditional_write<T, E, F, Fut>(operation: &str, send: F) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match send().await {
            Ok(output) => return Ok(Some(output)),
            Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => {
                return Ok(None);
            }
            Err(err) if attempt < MAX_ATTEMPTS && not_applied(&err) => {
                tracing::debug!(attempt, error = %DisplayErrorContext(&err), "retrying a DynamoDB write that was not applied");
                tokio::time::sleep(backoff).await;
                backoff *= 4;
                attempt += 1;
            }
            Err(err) => return Err(unavailable(operation, err)),
        }
    }
}

/// True when the request certainly did not change the table: DynamoDB throttled it, or no
/// connection was ever established.
fn not_applied<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::ServiceError(ctx) => {
            matches!(
                ctx.err().code(),
                Some("ThrottlingException" | "ProvisionedThroughputExceededException" | "RequestLimitExceeded")
            )
        }
        SdkError::DispatchFailure(failure) => {
            // A connect timeout (no read timeout is configured), or a refused connection.
            failure.is_timeout() || failure.as_connector_error().is_some_and(|e| refused_in_chain(e))
        }
        _ => false,
    }
}

/// True when a "connection refused" I/O error is among `err` and its sources.
fn refused_in_chain(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        next = err.source();
    }
    false
}

/// Any failure other than a failed condition: the store is unavailable for this request.
fn unavailable<E>(operation: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let why = match &err {
        SdkError::ServiceError(ctx) => format!(
            "{}: {} (HTTP {})",
            ctx.err().code().unwrap_or("unknown error"),
            ctx.err().message().unwrap_or("no message"),
            ctx.raw().status().as_u16()
        ),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "connection timed out".to_owned(),
        other => DisplayErrorContext(other).to_string(),
    };
    tracing::warn!(operation, error = %why, "DynamoDB request failed");
    StoreError::Unavailable(format!("DynamoDB {operation} failed: {why}"))
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn signed(n: i128) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn encode_hold(hold: &Hold) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (HOLD_TOKENS.to_owned(), number(hold.tokens)),
        (HOLD_EXPIRES.to_owned(), AttributeValue::N(hold.expires_at.millis().to_string())),
    ]))
}

fn decode_holds(item: &HashMap<String, AttributeValue>) -> Result<Vec<Hold>, StoreError> {
    let Some(holds) = item.get(HOLDS).and_then(|v| v.as_m().ok()) else { return Ok(Vec::new()) };
    let corrupt = |id: &str| StoreError::Unavailable(format!("corrupt DynamoDB hold '{id}'"));
    holds
        .iter()
        .map(|(id, hold)| {
            let fields = hold.as_m().map_err(|_| corrupt(id))?;
            let field = |name: &str| fields.get(name).and_then(|v| v.as_n().ok()).ok_or_else(|| corrupt(id));
            let tokens = field(HOLD_TOKENS)?.parse::<u64>().map_err(|_| corrupt(id))?;
            let expires = field(HOLD_EXPIRES)?.parse::<i64>().map_err(|_| corrupt(id))?;
            Ok(Hold { id: HoldId::from_stored(id.clone()), tokens, expires_at: Timestamp::from_millis(expires) })
        })
        .collect()
}

fn key_item_id(id: &KeyId) -> AttributeValue {
    AttributeValue::S(format!("{KEY_PREFIX}{id}"))
}

fn encode_key(key: &ApiKey) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (USER_ID.to_owned(), key_item_id(&key.id)),
        (KEY_SHA256.to_owned(), AttributeValue::S(key.secret_hash.iter().map(|b| format!("{b:02x}")).collect())),
        (KEY_CREATED.to_owned(), AttributeValue::S(key.created_at.to_string())),
    ]);
    if let Role::User(owner) = &key.role {
        item.insert(KEY_OWNER.to_owned(), AttributeValue::S(owner.to_string()));
    }
    if let Some(label) = &key.label {
        item.insert(KEY_LABEL.to_owned(), AttributeValue::S(label.clone()));
    }
    if let Some(revoked) = key.revoked_at {
        item.insert(REVOKED_AT.to_owned(), AttributeValue::S(revoked.to_string()));
    }
    item
}

fn decode_key(item: &HashMap<String, AttributeValue>) -> Result<ApiKey, StoreError> {
    let raw_id = item.get(USER_ID).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
    let corrupt = |why: &str| StoreError::Unavailable(format!("corrupt DynamoDB key item '{raw_id}': {why}"));
    let id = raw_id.strip_prefix(KEY_PREFIX).and_then(KeyId::parse).ok_or_else(|| corrupt("bad key ID"))?;
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let hex = text(KEY_SHA256).filter(|h| h.len() == 64).ok_or_else(|| corrupt("bad hash"))?;
    let mut secret_hash = [0u8; 32];
    for (i, byte) in secret_hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| corrupt("bad hash"))?;
    }
    let time = |name: &str| text(name).map(|t| t.parse::<Timestamp>().map_err(|_| corrupt(name))).transpose();
    let role = match text(KEY_OWNER) {
        None => Role::Admin,
        Some(owner) => Role::User(UserId::parse(KEY_OWNER, owner).map_err(|_| corrupt("bad owner"))?),
    };
    Ok(ApiKey {
        id,
        secret_hash,
        role,
        label: text(KEY_LABEL).cloned(),
        created_at: time(KEY_CREATED)?.ok_or_else(|| corrupt("no creation time"))?,
        revoked_at: time(REVOKED_AT)?,
    })
}

fn encode(user: &User) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (USER_ID.to_owned(), AttributeValue::S(user.id.as_str().to_owned())),
        (TOKEN_LIMIT.to_owned(), number(user.token_limit.get())),
        (TOKEN_USAGE.to_owned(), number(user.token_usage)),
        (TOTAL_COST.to_owned(), number(user.total_cost.nanos())),
        (LAST_UPDATED.to_owned(), AttributeValue::S(user.last_updated.to_string())),
        (TOKEN_RESERVED.to_owned(), number(user.token_reserved)),
        (TOKEN_COMMITTED.to_owned(), number(user.token_usage + user.token_reserved)),
        (
            TOKEN_HEADROOM.to_owned(),
            signed(i128::from(user.token_limit.get()) - i128::from(user.token_usage + user.token_reserved)),
        ),
        (HOLDS.to_owned(), AttributeValue::M(HashMap::new())),
    ])
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<User, StoreError> {
    let raw_id = item.get(USER_ID).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
    let corrupt = |why: String| StoreError::Unavailable(format!("corrupt DynamoDB item for user '{raw_id}': {why}"));
    let id = UserId::parse(USER_ID, raw_id).map_err(|e| corrupt(e.to_string()))?;
    let n = |name: &str| -> Result<&str, StoreError> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .map(String::as_str)
            .ok_or_else(|| corrupt(format!("`{name}` is missing or not a number")))
    };
    let whole = |name: &str| -> Result<u64, StoreError> {
        n(name)?.parse::<u64>().map_err(|e| corrupt(format!("`{name}` is not a whole number that fits 64 bits: {e}")))
    };
    let token_limit = TokenLimit::new(TOKEN_LIMIT, whole(TOKEN_LIMIT)?).map_err(|e| corrupt(e.to_string()))?;
    let token_usage = whole(TOKEN_USAGE)?;
    // Costs only grow and are clamped at the largest amount, as the embedded store does.
    let cost = n(TOTAL_COST)?;
    let total_cost = match cost.parse::<u64>() {
        Ok(nanos) => Money::from_nanos(nanos),
        Err(_) if !cost.is_empty() && cost.bytes().all(|b| b.is_ascii_digit()) => Money::from_nanos(u64::MAX),
        Err(e) => return Err(corrupt(format!("`{TOTAL_COST}` is not a whole number of nano-dollars: {e}"))),
    };
    let last_updated = item
        .get(LAST_UPDATED)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| corrupt(format!("`{LAST_UPDATED}` is missing or not a string")))?
        .parse::<Timestamp>()
        .map_err(|e| corrupt(e.to_string()))?;
    // Items written before holds existed have no counter: nothing is reserved.
    let token_reserved = match item.get(TOKEN_RESERVED) {
        None => 0,
        Some(_) => whole(TOKEN_RESERVED)?,
    };
    Ok(User { id, token_limit, token_usage, token_reserved, total_cost, last_updated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let mut user = User::new(
            UserId::parse("userId", "a@b.c").unwrap(),
            TokenLimit::new("tokenLimit", 1000).unwrap(),
            Timestamp::from_millis(1_768_825_097_123),
        );
        user.token_usage = 42;
        user.total_cost = Money::from_nanos(486_000);
        let item = encode(&user);
        assert_eq!(item[TOTAL_COST], AttributeValue::N("486000".into()));
        assert_eq!(item[LAST_UPDATED], AttributeValue::S("2026-01-19T12:18:17.123Z".into()));
        assert_eq!(decode(&item).unwrap(), user);
    }

    #[test]
    fn corrupt_items_are_reported_not_guessed() {
        let user = User::new(
            UserId::parse("userId", "u").unwrap(),
            TokenLimit::new("tokenLimit", 1).unwrap(),
            Timestamp::from_millis(0),
        );
        let mut item = encode(&user);
        item.insert(TOKEN_LIMIT.into(), AttributeValue::N("0".into()));
        assert!(matches!(decode(&item), Err(StoreError::Unavailable(why)) if why.contains("tokenLimit")));
        let mut item = encode(&user);
        item.insert(TOTAL_COST.into(), AttributeValue::N("99999999999999999999999".into()));
        assert_eq!(decode(&item).unwrap().total_cost, Money::from_nanos(u64::MAX));
    }
}
