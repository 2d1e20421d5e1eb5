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
