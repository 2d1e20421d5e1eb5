//! A user's own dashboard: usage, limit, remaining, percentage, cost, live; every quota as a
//! bar; a guest's remaining messages and how to become a user.

use sycamore::prelude::*;
use tokenmeter_client::types::User;

use super::{
    LiveStatus,
    guest::GuestNote,
    quotas::{QuotaBars, Quotas},
    usage::{UsageView, Viewer},
    usage_chart::OwnUsage,
};
use crate::{
    api::{self, Live},
    app::Session,
};

#[component(inline_props)]
pub fn Dashboard(id: String) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let live = Live::<User>::new();
    api::follow_user(auth.client.clone(), id.clone(), live);
    let changed = move || live.value.with(|u| u.as_ref().map(|u| u.last_updated.clone()).unwrap_or_default());
    let quotas = Quotas::follow(auth.client.clone(), id.clone(), changed, live.now);
    let changed = create_memo(changed);
    let guest = if id.starts_with("guest-") {
        view! { GuestNote(quotas=quotas, key=auth.key) }
    } else {
        view! {}
    };
    // The cards below the figures come with them, not before: appearing first, they would be
    // pushed down when the figures arrive (a layout shift of 0.39 on a phone, by Lighthouse).
    let shown = create_memo(move || live.value.with(Option::is_some));
    let client = auth.client.clone();
    let below = move || {
        if !shown.get() {
            return view! {};
        }
        let (client, id) = (client.clone(), id.clone());
        view! {
            QuotaBars(quotas=quotas, now=live.now)
            OwnUsage(client=client, id=id, changed=changed)
        }
    };
    view! {
        LiveStatus(live=live, loading="Loading your usage…", failed="Your usage could not be refreshed.")
        (guest)
        UsageView(live=live, title="Token usage dashboard", viewer=Viewer::Own)
        (below)
    }
}
