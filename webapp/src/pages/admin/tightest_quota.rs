//! A user's tightest quota, for one row of the user list: the quota nearest its limit.

use sycamore::prelude::*;
use tokenmeter_client::types::{QuotaState, UserQuotas};

use crate::{
    api::ApiError,
    format::{self, Level},
    pages::quotas::quota_name,
};

/// A user's tightest quota, loaded for one row of the user list.
#[component(inline_props)]
pub(super) fn TightestQuota(id: String) -> View {
    let shown = create_signal(None::<Result<UserQuotas, ApiError>>);
    if let Some(auth) = use_context::<crate::app::Session>().get() {
        sycamore::futures::spawn_local_scoped(async move {
            shown.set(Some(auth.client.get_user_quotas(&id).await.map(|q| q.into_inner()).map_err(Into::into)));
        });
    }
    view! {
        (move || match shown.get_clone() {
            None => view! { span(class="muted") { "…" } },
            Some(Err(err)) => view! { span(class="muted", title=err.to_string()) { "unavailable" } },
            Some(Ok(q)) => match tightest(&q.quotas) {
                None => view! { span(class="muted") { "none" } },
                Some(t) => {
                    let text = format!("{} · {}", quota_name(t), format::percent(t.percentage_used));
                    let class = format!("tone-{}", Level::of(t.percentage_used).tone().name());
                    view! { span(class=class, data-testid="tightest") { (text) } }
                }
            },
        })
    }
}

/// The quota nearest its limit: the one that blocks first.
fn tightest(quotas: &[QuotaState]) -> Option<&QuotaState> {
    quotas.iter().max_by(|a, b| a.percentage_used.total_cmp(&b.percentage_used))
}
