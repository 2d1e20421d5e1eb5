//! The production store: one DynamoDB table, every change one conditional request or one
//! transaction (no read-modify-write).
//!
//! `schema.rs` is the table's format (keys, indexes, attributes); `codec.rs` reads and writes
//! items; `expr.rs` builds expressions with named placeholders; `retry.rs` is what happens when
//! DynamoDB fails. The ports: `accounts.rs` (users, counters, holds, claims), `keys.rs`,
//! `tiers.rs`, `events.rs` (usage events and roll-ups), and `calls.rs` (holds and recorded
//! usage); `transact.rs` builds transactions.
//!
//! Failures: a condition that fails is an answer (not found, already exists, refused), never
//! an outage. A store that cannot be reached, times out, throttles or fails with a 5xx is
//! [`StoreError::Unavailable`] within the operation timeout.

mod accounts;
mod alerts;
mod calls;
mod codec;
mod conversations;
mod events;
mod expr;
mod keys;
mod retry;
mod schema;
mod tiers;
mod transact;

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, KeysAndAttributes, ReturnValue, TableStatus},
};

pub use self::retry::{DEFAULT_OPERATION_TIMEOUT, sdk_config_loader};
use self::{
    codec::Item,
    expr::{Change, s},
    retry::{Written, no_sdk_retries, unavailable, write},
    schema::PK,
};
use crate::domain::StoreError;

/// How long `open` waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most items one transaction may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Which sort keys a query reads.
enum Sort {
    All,
    /// From the first to the second, both included.
    Between(String, String),
    /// Below the given one.
    Below(String),
}

/// Everything the service keeps, in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    /// Connects to `table`, creating it (on-demand capacity, its indexes, TTL) when it does not
    /// exist and waiting until it is active.
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
        if self.table_status().await?.is_none() {
            tracing::info!(table = %self.table, "creating the DynamoDB table");
            match schema::create_table(&self.client, &self.table).send().await {
                Ok(_) => {}
                // Another instance created it first.
                Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(err) => return Err(unavailable("CreateTable", &err)),
            }
        }
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
        while self.table_status().await? != Some(TableStatus::Active) {
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB table '{}' did not become active within {TABLE_ACTIVE_TIMEOUT:?}",
                    self.table
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Idempotent: a table whose TTL is on already answers that it is.
        let ttl = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(schema::time_to_live());
        if let Err(err) = ttl.send().await {
            let already = err
                .as_service_error()
                .and_then(|e| aws_sdk_dynamodb::error::ProvideErrorMetadata::message(e))
                .is_some_and(|m| m.contains("already enabled"));
            if !already {
                tracing::warn!(table = %self.table, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "could not turn on the table's TTL");
            }
        }
        Ok(())
    }

    /// The table's status, or `None` when it does not exist.
    async fn table_status(&self) -> Result<Option<TableStatus>, StoreError> {
        match self.client.describe_table().table_name(&self.table).send().await {
            Ok(out) => Ok(Some(out.table().and_then(|t| t.table_status()).cloned().unwrap_or(TableStatus::Creating))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(err) => Err(unavailable("DescribeTable", &err)),
        }
    }

    fn key(pk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(PK.to_owned(), s(pk))])
    }

    /// `GetItem` by partition key, strongly consistent.
    async fn get(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        Ok(out.item)
    }

    /// Many items by partition key, strongly consistent (`BatchGetItem`, 100 at a time, until
    /// nothing is left unprocessed); missing items are absent from the answer. A key asked for
    /// twice is sent once: `BatchGetItem` refuses duplicates.
    async fn get_many(&self, pks: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        let unique: Vec<&String> = pks.iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        for chunk in unique.chunks(100) {
            let keys = chunk.iter().map(|pk| Self::key(pk)).collect::<Vec<_>>();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", &e))?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    if let Some(AttributeValue::S(pk)) = item.get(PK) {
                        found.insert(pk.clone(), item);
                    }
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
        }
        Ok(found)
    }

    /// Every item matching `filter`: a consistent `Scan`, every page.
    async fn scan(&self, filter: &Change) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_filter_expression(filter.condition())
                .set_expression_attribute_names(filter.names())
                .set_expression_attribute_values(filter.values())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Scan", &e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Items of an index's partition whose sort keys fall in `sort`, newest first when
    /// `backwards`, at most `limit` (`0`: all).
    async fn query(
        &self,
        index: (&str, &str, &str),
        pk: &str,
        sort: Sort,
        backwards: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let (name, pk_attr, sk_attr) = index;
        let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
        let sort = match sort {
            Sort::All => "",
            Sort::Between(from, to) => {
                values.extend([(":from".to_owned(), s(from)), (":to".to_owned(), s(to))]);
                " AND #sk BETWEEN :from AND :to"
            }
            Sort::Below(to) => {
                values.insert(":to".to_owned(), s(to));
                " AND #sk < :to"
            }
        };
        let condition = format!("#pk = :pk{sort}");
        let mut names = HashMap::from([("#pk".to_owned(), pk_attr.to_owned())]);
        if !sort.is_empty() {
            names.insert("#sk".to_owned(), sk_attr.to_owned());
        }
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(name)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!backwards)
                .set_limit((limit > 0).then(|| i32::try_from(limit).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", &e))?;
            items.extend(page.items.unwrap_or_default());
            if limit > 0 && items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// One conditional `UpdateItem`, answering the item after it (`None`: a condition failed
    /// and nothing changed).
    async fn update(&self, pk: &str, change: &Change) -> Result<Option<Item>, StoreError> {
        let written = write(
            "UpdateItem",
            |_| None,
            || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(pk)))
                    .update_expression(change.expression())
                    .set_condition_expression(change.condition())
                    .set_expression_attribute_names(change.names())
                    .set_expression_attribute_values(change.values())
                    .return_values(ReturnValue::AllNew)
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            },
        )
        .await?;
        match written {
            Written::Applied(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Written::Refused(_) => Ok(None),
        }
    }

    /// One conditional `PutItem`; `false` when its condition failed.
    async fn put(&self, item: Item, condition: &Change) -> Result<bool, StoreError> {
        let written = write(
            "PutItem",
            |_| None,
            || {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item.clone()))
                    .set_condition_expression(condition.condition())
                    .set_expression_attribute_names(condition.names())
                    .set_expression_attribute_values(condition.values())
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            },
        )
        .await?;
        Ok(matches!(written, Written::Applied(_)))
    }

    /// An unconditional `DeleteItem`.
    async fn delete(&self, pk: &str) -> Result<(), StoreError> {
        let written = write(
            "DeleteItem",
            |_| None,
            || {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(pk)))
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            },
        )
        .await?;
        match written {
            Written::Applied(_) => Ok(()),
            Written::Refused(_) => Err(StoreError::Corrupt("an unconditional delete was refused".into())),
        }
    }
}
