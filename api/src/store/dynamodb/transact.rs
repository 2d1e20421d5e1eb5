//! Transactions: `TransactWriteItems` and the items it holds, each with its own condition.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};

use super::{
    DynamoDbStore, MAX_TRANSACTION_ITEMS,
    codec::Item,
    expr::Change,
    retry::{Written, no_sdk_retries, transaction_reasons, write},
};
use crate::domain::StoreError;

impl DynamoDbStore {
    /// One `TransactWriteItems`: all applied, or none (`Refused` says whose condition failed).
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Written<()>, StoreError> {
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Corrupt(format!("a transaction of {} items is too large", items.len())));
        }
        let written = write("TransactWriteItems", transaction_reasons, || {
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .customize()
                .config_override(no_sdk_retries())
                .send()
        })
        .await?;
        Ok(match written {
            Written::Applied(_) => Written::Applied(()),
            Written::Refused(which) => Written::Refused(which),
        })
    }

    pub(super) fn tx_update(&self, pk: &str, change: &Change) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .update_expression(change.expression())
            .set_condition_expression(change.condition())
            .set_expression_attribute_names(change.names())
            .set_expression_attribute_values(change.values())
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    pub(super) fn tx_put(&self, item: Item, condition: &Change) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.condition())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    pub(super) fn tx_delete(&self, pk: &str, condition: &Change) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .set_condition_expression(condition.condition())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    pub(super) fn tx_check(&self, pk: &str, condition: &Change) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk)))
            .set_condition_expression(condition.condition())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .expect("table, key and condition are set");
        TransactWriteItem::builder().condition_check(check).build()
    }
}
