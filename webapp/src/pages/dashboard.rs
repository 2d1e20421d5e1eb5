//! A user's own dashboard: usage, limit, remaining, percentage, cost, live.

use sycamore::prelude::*;
use tokenmeter_client::types::User;

use super::{
    LiveStatus,
    usage::{UsageView, Viewer},
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
    api::follow_user(auth.client.clone(), id, live);
    view! {
        LiveStatus(live=live, loading="Loading your usage…", failed="Your usage could not be refreshed.")
        UsageView(live=live, title="Token usage dashboard", viewer=Viewer::Own)
    }
}
