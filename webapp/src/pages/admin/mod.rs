//! The administrator's pages: the system dashboard, users, tiers and quota rules, and the chat
//! as a user. They are built only into the administrator's bundle (the crate's `admin`
//! feature), which the page loads once an administrator signs in (`crate::bundle`): a cold
//! load, and every user, downloads none of them.

mod analytics;
mod dialogs;
mod model_interaction;
mod overview;
mod rules;
mod tiers;
mod tightest_quota;
mod user_detail;
mod user_quotas;
mod users;

pub use analytics::Analytics;
pub use model_interaction::ModelInteraction;
pub use overview::Overview;
pub use tiers::Tiers;
pub use user_detail::UserDetail;
pub use users::Users;

/// A user as the service would answer it, for the administrator's pages' tests.
#[cfg(test)]
fn test_user(id: &str, usage: u64, limit: u64, cost: f64) -> tokenmeter_client::types::User {
    tokenmeter_client::types::User {
        user_id: id.into(),
        token_limit: limit,
        token_usage: usage,
        total_cost: cost,
        last_updated: "2026-01-01T00:00:00.000Z".into(),
        remaining_tokens: limit.saturating_sub(usage),
        percentage_used: usage as f64 * 100.0 / limit as f64,
        held_tokens: 0,
        request_count: 0,
        tier: None,
    }
}
