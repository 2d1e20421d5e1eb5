//! How the DynamoDB store talks to DynamoDB when things go wrong: bounded timeouts, and retries
//! of writes only when DynamoDB cannot have applied them (throttled, a transaction conflict, no
//! connection). A write that timed out after it was sent may or may not have been applied, so
//! it is reported as unavailable instead: retrying an `ADD` could apply it twice (a client's
//! retry with an idempotency key is the safe way).

use std::time::Duration;

use aws_config::{ConfigLoader, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
};

use crate::domain::StoreError;

/// How long one operation, retries included, may take unless configured otherwise
/// (`TOKENMETER_STORE_TIMEOUT_MS`): a caller learns of an outage within this.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest that establishing a connection may take.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per operation, the first included (reads, and writes that were not applied).
const MAX_ATTEMPTS: u32 = 3;
/// Attempts of a transaction that lost a conflict to another (not applied; contention on one
/// item can take several rounds).
const MAX_CONFLICT_ATTEMPTS: u32 = 12;

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

/// Writes opt out of the SDK's retries: it would also retry a timed-out request that may
/// have been applied. [`write`] retries only what cannot have been applied.
pub(super) fn no_sdk_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// What a conditional write came to.
pub(super) enum Written<T> {
    Applied(T),
    /// A condition failed and nothing changed: for a transaction, whether each item's did.
    Refused(Vec<bool>),
}

/// How an error of a write reads.
enum Reading {
    Refused(Vec<bool>),
    NotApplied,
    Failed,
}

fn read_error<E: ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
    reasons: impl Fn(&E) -> Option<Vec<String>>,
) -> Reading {
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code();
            if code == Some("ConditionalCheckFailedException") {
                return Reading::Refused(vec![true]);
            }
            if let Some(reasons) = reasons(ctx.err()) {
                if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                    return Reading::Refused(reasons.iter().map(|r| r == "ConditionalCheckFailed").collect());
                }
                if reasons.iter().all(|r| {
                    matches!(
                        r.as_str(),
                        "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                }) {
                    return Reading::NotApplied;
                }
                return Reading::Failed;
            }
            match code {
                Some(
                    "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "TransactionConflictException"
                    | "TransactionInProgressException",
                ) => Reading::NotApplied,
                _ => Reading::Failed,
            }
        }
        // A connect timeout (no read timeout is configured), or a refused connection.
        SdkError::DispatchFailure(failure)
            if failure.is_timeout() || failure.as_connector_error().is_some_and(|e| refused_in_chain(e)) =>
        {
            Reading::NotApplied
        }
        _ => Reading::Failed,
    }
}

/// The cancellation reasons of a cancelled transaction, by item.
pub(super) fn transaction_reasons(err: &TransactWriteItemsError) -> Option<Vec<String>> {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            Some(cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect())
        }
        _ => None,
    }
}

/// Sends a conditional write (an item write, or a transaction with `reasons` reading its
/// cancellation) until it is applied or refused, retrying only what was not applied.
pub(super) async fn write<T, E, R, F, Fut>(
    operation: &str,
    reasons: impl Fn(&E) -> Option<Vec<String>>,
    send: F,
) -> Result<Written<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let mut backoff = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        let err = match send().await {
            Ok(output) => return Ok(Written::Applied(output)),
            Err(err) => err,
        };
        match read_error(&err, &reasons) {
            Reading::Refused(which) => return Ok(Written::Refused(which)),
            Reading::NotApplied if attempt < MAX_CONFLICT_ATTEMPTS => {
                tracing::debug!(attempt, error = %DisplayErrorContext(&err), "retrying a DynamoDB write that was not applied");
                // Jittered, so writers that conflicted do not meet again.
                let jitter = Duration::from_millis(u64::from(rand::random::<u8>() % 20));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(Duration::from_millis(400));
                attempt += 1;
            }
            _ => return Err(unavailable(operation, &err)),
        }
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
pub(super) fn unavailable<E, R>(operation: &str, err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let why = match err {
        SdkError::ServiceError(ctx) => {
            format!("{}: {}", ctx.err().code().unwrap_or("unknown error"), ctx.err().message().unwrap_or("no message"),)
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "connection timed out".to_owned(),
        other => DisplayErrorContext(other).to_string(),
    };
    tracing::warn!(operation, error = %why, "DynamoDB request failed");
    // A request DynamoDB finds malformed is the service's bug, not an outage.
    if let SdkError::ServiceError(ctx) = err
        && ctx.err().code() == Some("ValidationException")
    {
        return StoreError::Corrupt(format!("DynamoDB {operation} was refused as malformed: {why}"));
    }
    StoreError::Unavailable(format!("DynamoDB {operation} failed: {why}"))
}
