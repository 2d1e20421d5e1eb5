//! An administrator's view of one user: the user's own figures and quotas, plus changing the
//! limit, the tier and the user's own rules, deleting, and the user's API snippets.

use sycamore::prelude::*;
use sycamore_router::navigate;
use tokenmeter_client::types::User;

use super::{
    dialogs::{ChangeLimit, DeleteDialog, DeleteUser, LimitDialog},
    user_quotas::UserQuotaEditor,
};
use crate::pages::{
    LiveStatus,
    quotas::{QuotaBars, Quotas},
    usage::{UsageView, Viewer},
};
use crate::{
    api::{self, Live},
    app::Session,
    ui::{Button, Size, Tone, Variant},
};

#[component(inline_props)]
pub fn UserDetail(id: String) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let live = Live::<User>::new();
    api::follow_user(auth.client.clone(), id.clone(), live);
    let changed = move || live.value.with(|u| u.as_ref().map(|u| u.last_updated.clone()).unwrap_or_default());
    let quotas = Quotas::follow(auth.client.clone(), id.clone(), changed, live.now);
    let editor_id = id.clone();
    let limit = LimitDialog::new();
    let delete = DeleteDialog::new();
    let open_limit = move || {
        if let Some(user) = live.value.get_clone() {
            limit.open_for(&user);
        }
    };
    let snippets = format!("/snippets/{id}");
    view! {
        div(class="row-between") {
            a(class="back-link", href="/admin/users") { "← All users" }
            div(class="row") {
                a(class="btn btn-bordered btn-sm", href=snippets) { "API snippets" }
                Button(variant=Variant::Flat, tone=Tone::Primary, size=Size::Small, test_id="change-limit", on_click=open_limit) { "Change limit" }
                Button(variant=Variant::Flat, tone=Tone::Danger, size=Size::Small, test_id="delete-user", on_click=move || delete.open_for(&id)) { "Delete user" }
            }
        }
        LiveStatus(live=live, loading="Loading the user…", failed="This user could not be refreshed.")
        UsageView(live=live, title="User detail", viewer=Viewer::Admin)
        QuotaBars(quotas=quotas, now=live.now)
        UserQuotaEditor(id=editor_id, quotas=quotas)
        ChangeLimit(dialog=limit, on_saved=move |user| live.got(user))
        DeleteUser(dialog=delete, on_deleted=|_| navigate("/admin/users"))
    }
}
