//! The administrator's user list: live usage of everyone, each user's tightest quota,
//! sorting, create, change a limit, delete. On narrow screens each row is a card.

use sycamore::prelude::*;
use tokenmeter_client::types::{CreateUserRequest, User};

use super::dialogs::{ChangeLimit, DeleteDialog, DeleteUser, IssuedKey, KeyDialog, LimitDialog};
use super::tightest_quota::TightestQuota;
use crate::pages::{LinkChip, LiveStatus};
use crate::{
    api::{self, ApiError, Live},
    app::Session,
    format::{self, Level},
    ui::{
        Alert, Button, Card, CardBody, CardHeader, Chip, Input, Progress, Size, SortHeader, Table, Toasts, Tone,
        Variant,
    },
};

/// What the user list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    User,
    Usage,
    Limit,
    Percentage,
}

fn sorted(mut users: Vec<User>, (by, descending): (SortBy, bool)) -> Vec<User> {
    users.sort_by(|a, b| {
        let order = match by {
            SortBy::User => a.user_id.cmp(&b.user_id),
            SortBy::Usage => a.token_usage.cmp(&b.token_usage),
            SortBy::Limit => a.token_limit.cmp(&b.token_limit),
            SortBy::Percentage => a.percentage_used.total_cmp(&b.percentage_used),
        };
        let order = order.then_with(|| a.user_id.cmp(&b.user_id));
        if descending { order.reverse() } else { order }
    });
    users
}

/// The labels of the create form; its messages name the fields the same way.
const USER_ID: &str = "User ID";
const TOKEN_LIMIT: &str = "Token limit";

/// The create form: its fields, whether it is sending, the last error.
#[derive(Clone, Copy)]
struct CreateForm {
    id: Signal<String>,
    limit: Signal<String>,
    issue_key: Signal<bool>,
    creating: Signal<bool>,
    error: Signal<Option<String>>,
}

/// The page's state, as one `Copy` struct of signals with its operations.
#[derive(Clone, Copy)]
struct UsersPage {
    session: Session,
    toasts: Toasts,
    live: Live<Vec<User>>,
    sort: Signal<(SortBy, bool)>,
    form: CreateForm,
    limit: LimitDialog,
    delete: DeleteDialog,
    key: KeyDialog,
}

impl UsersPage {
    fn new() -> Self {
        Self {
            session: use_context::<Session>(),
            toasts: use_context::<Toasts>(),
            live: Live::new(),
            sort: create_signal((SortBy::Usage, true)),
            form: CreateForm {
                id: create_signal(String::new()),
                limit: create_signal("100000".to_owned()),
                issue_key: create_signal(true),
                creating: create_signal(false),
                error: create_signal(None),
            },
            limit: LimitDialog::new(),
            delete: DeleteDialog::new(),
            key: KeyDialog::new(),
        }
    }

    /// The user, as the service now has it (after a create or a limit change).
    fn put(self, user: User) {
        // Kept in ID order, as the list's stream sends it (its changes are merged by ID).
        self.live.change(|users| {
            users.retain(|u| u.user_id != user.user_id);
            let at = users.partition_point(|u| u.user_id < user.user_id);
            users.insert(at, user);
        });
    }

    fn remove(self, id: &str) {
        self.live.change(|users| users.retain(|u| u.user_id != id));
    }

    fn create(self) {
        let form = self.form;
        let user_id = form.id.get_clone().trim().to_owned();
        if user_id.is_empty() {
            return form.error.set(Some(format!("{USER_ID} is required.")));
        }
        let token_limit = match format::parse_tokens(TOKEN_LIMIT, &form.limit.get_clone()) {
            Ok(limit) => limit,
            Err(message) => return form.error.set(Some(message)),
        };
        let Some(auth) = self.session.get() else { return };
        let request = CreateUserRequest {
            user_id,
            token_limit,
            issue_key: Some(form.issue_key.get()),
            tier: None,
            from_guest: None,
        };
        form.creating.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match auth.client.create_user(None, &request).await {
                Ok(created) => {
                    let created = created.into_inner();
                    let id = created.user.user_id.clone();
                    form.error.set(None);
                    form.id.set(String::new());
                    self.put(created.user);
                    self.toasts.success(format!("Created {id}."));
                    if let Some(key) = created.api_key {
                        self.key.show(id, key.api_key);
                    }
                }
                Err(err) => form
                    .error
                    .set(Some(ApiError::from(err).for_form(&[("userId", USER_ID), ("tokenLimit", TOKEN_LIMIT)]))),
            }
            form.creating.set(false);
        });
    }
}

#[component]
pub fn Users() -> View {
    let page = UsersPage::new();
    let Some(auth) = page.session.get() else { return view! {} };
    api::follow_users(auth.client.clone(), page.live);
    let count = move || page.live.value.with(|v| v.as_ref().map_or("–".into(), |users| users.len().to_string()));
    let rows = create_memo(move || sorted(page.live.value.get_clone().unwrap_or_default(), page.sort.get()));
    let empty = move || page.live.value.with(|v| v.as_ref().is_some_and(Vec::is_empty));
    let form = page.form;
    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "User management" }
                        p(class="subtitle") { "Every user's token usage, live." }
                    }
                    div(class="row") {
                        LinkChip(link=page.live.link)
                        div(class="count") {
                            div(class="stat-value", data-testid="user-count") { (count) }
                            div(class="stat-note") { "Total users" }
                        }
                    }
                }
            }
        }
        Card(label="Create a user") {
            CardHeader { h2 { "Create a user" } }
            CardBody {
                form(class="stack", novalidate=true, on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); page.create() }) {
                    div(class="form-grid") {
                        Input(id="new-user-id", label=USER_ID, value=form.id, placeholder="e.g. user-123", required=true,
                              help="Letters, digits, . _ - @ (up to 128).")
                        Input(id="new-user-limit", label=TOKEN_LIMIT, value=form.limit, mode="numeric", required=true,
                              help="A positive whole number.")
                        div(class="form-actions field") {
                            Button(tone=Tone::Primary, kind="submit", loading=form.creating, full=true, test_id="create-user", on_click=|| ()) { "Create user" }
                        }
                    }
                    label(class="checkbox") {
                        input(r#type="checkbox", bind:checked=form.issue_key)
                        "Also issue the user's API key (shown once)"
                    }
                    (move || match form.error.get_clone() {
                        Some(message) => view! { Alert(tone=Tone::Danger, title="The user was not created.", message=message, test_id="create-error") },
                        None => view! {},
                    })
                }
            }
        }
        LiveStatus(live=page.live, loading="Loading users…", failed="The user list could not be refreshed.")
        Card(label="Users") {
            (move || if empty() { view! { div(class="empty") { "No users yet. Create the first one above." } } } else { view! {} })
            Table(label="Users", test_id="users-table", cards=true) {
                thead {
                    tr {
                        SortHeader(label="User ID", key=SortBy::User, sort=page.sort)
                        SortHeader(label="Usage", key=SortBy::Usage, sort=page.sort, numeric=true)
                        SortHeader(label="Limit", key=SortBy::Limit, sort=page.sort, numeric=true)
                        SortHeader(label="Usage %", key=SortBy::Percentage, sort=page.sort)
                        th(scope="col") { "Status" }
                        th(scope="col") { "Tightest quota" }
                        th(scope="col", style="text-align: right") { "Cost" }
                        th(scope="col") { "Last updated" }
                        th(scope="col", style="text-align: right") { "Actions" }
                    }
                }
                tbody {
                    Keyed(
                        list=rows,
                        key=|u: &User| (u.user_id.clone(), u.token_usage, u.token_limit, u.last_updated.clone()),
                        view=move |u: User| view! { UserRow(page=page, user=u) },
                    )
                }
            }
        }
        ChangeLimit(dialog=page.limit, on_saved=move |user| page.put(user))
        DeleteUser(dialog=page.delete, on_deleted=move |id: String| page.remove(&id))
        IssuedKey(dialog=page.key)
    }
}

/// One user's row (a card on narrow screens: each cell says its column in `data-label`).
#[component(inline_props)]
fn UserRow(page: UsersPage, user: User) -> View {
    let level = Level::of(user.percentage_used);
    let tone = level.tone();
    let id = user.user_id.clone();
    let href = format!("/admin/users/{id}");
    let (cost, recorded_only) = format::cost_of(user.total_cost, user.token_usage);
    let cost_class = if user.total_cost > 0.0 { "num tone-success" } else { "num" };
    // Tokens recorded without a model call cost nothing here: the label says so instead of $0.
    let cost = match recorded_only {
        Some(label) => view! { span(class="cell-note") { (label) } },
        None => view! { (cost) },
    };
    let bar_label = format!("{id} usage");
    let quota_id = id.clone();
    let (row, for_delete, limit_test, delete_test) =
        (id.clone(), id.clone(), format!("limit-{id}"), format!("delete-{id}"));
    let usage = format::tokens(user.token_usage);
    let limit = format::tokens(user.token_limit);
    let pct_value = user.percentage_used;
    let pct = format::percent(user.percentage_used);
    let updated = format::timestamp(&user.last_updated);
    let (date, time) =
        updated.split_once(' ').map(|(d, t)| (d.to_owned(), t.to_owned())).unwrap_or((updated, String::new()));
    view! {
        tr(data-user=row) {
            td(class="cell-title", data-label="User ID") { a(href=href) { (id) } }
            td(class="num", data-label="Usage", data-testid="usage") { (usage) }
            td(class="num", data-label="Limit", data-testid="limit") { (limit) }
            td(data-label="Usage %") {
                div(class="pct-cell") {
                    Progress(label=bar_label, value=pct_value, tone=tone, small=true)
                    span(data-testid="percentage") { (pct) }
                }
            }
            td(data-label="Status") { Chip(text=level.label(), tone=tone) }
            td(data-label="Tightest quota") { TightestQuota(id=quota_id) }
            td(class=cost_class, data-label="Cost", data-testid="cost") { (cost) }
            td(class="mono when", data-label="Last updated") { span { (date) } span { (time) } }
            td(class="actions", data-label="Actions") {
                div(class="row row-end") {
                    Button(variant=Variant::Bordered, size=Size::Small, test_id=limit_test,
                           on_click=move || page.limit.open_for(&user)) { "Limit" }
                    Button(variant=Variant::Flat, tone=Tone::Danger, size=Size::Small, test_id=delete_test,
                           on_click=move || page.delete.open_for(&for_delete)) { "Delete" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, usage: u64, limit: u64) -> User {
        super::super::test_user(id, usage, limit, 0.0)
    }

    #[test]
    fn the_list_sorts_by_usage_limit_or_percentage_in_both_directions() {
        let users = vec![user("a", 398, 500), user("b", 318, 1000), user("c", 105, 100)];
        let ids = |v: Vec<User>| v.into_iter().map(|u| u.user_id).collect::<Vec<_>>();
        assert_eq!(ids(sorted(users.clone(), (SortBy::Usage, true))), ["a", "b", "c"]);
        assert_eq!(ids(sorted(users.clone(), (SortBy::Limit, true))), ["b", "a", "c"]);
        assert_eq!(ids(sorted(users.clone(), (SortBy::Percentage, true))), ["c", "a", "b"]);
        assert_eq!(ids(sorted(users, (SortBy::Percentage, false))), ["b", "a", "c"]);
    }
}
