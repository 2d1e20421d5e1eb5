use sycamore::prelude::*;
use tokenmeter_client::types::{CreateUserRequest, UpdateLimitRequest, User};

use super::LinkChip;
use crate::{
    api::{self, Link, Load},
    app::Session,
    format::{self, Level},
    ui::{
        Alert, Button, Card, CardBody, CardHeader, Chip, Input, Loading, Modal, Progress, SortHeader, Table, Toasts,
        Tone, Variant,
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

/// The administrator's user list: live usage of everyone, sorting, create, change limit, delete.
#[component]
pub fn Users() -> View {
    let session = use_context::<Session>();
    let toasts = use_context::<Toasts>();
    let Some(auth) = session.get() else { return view! {} };
    let state = create_signal(Load::Loading);
    let link = create_signal(Link::Connecting);
    api::follow_users(auth.client.clone(), state, link);
    let sort = create_signal((SortBy::Usage, true));

    // Create
    let new_id = create_signal(String::new());
    let new_limit = create_signal("100000".to_string());
    let issue_key = create_signal(true);
    let creating = create_signal(false);
    let create_error = create_signal(None::<String>);
    let issued_key = create_signal(None::<(String, String)>);
    let key_open = create_signal(false);
    let client = auth.client.clone();
    let create = move || {
        let Ok(limit) = new_limit.get_clone().trim().replace([',', '_', ' '], "").parse::<std::num::NonZeroU64>()
        else {
            create_error.set(Some("The token limit must be a whole number of tokens, e.g. 100000.".into()));
            return;
        };
        let request = CreateUserRequest {
            user_id: new_id.get_clone().trim().to_owned(),
            token_limit: limit,
            issue_key: Some(issue_key.get()),
            tier: None,
            from_guest: None,
        };
        let client = client.clone();
        creating.set(true);
        create_error.set(None);
        sycamore::futures::spawn_local_scoped(async move {
            match client.create_user(None, &request).await {
                Ok(created) => {
                    let created = created.into_inner();
                    let id = created.user.user_id.clone();
                    state.update(|s| {
                        if let Load::Ready(users) = s {
                            users.retain(|u| u.user_id != id);
                            users.push(created.user.clone());
                        }
                    });
                    new_id.set(String::new());
                    toasts.success(format!("Created {id}."));
                    if let Some(key) = created.api_key {
                        issued_key.set(Some((id, key.api_key)));
                        key_open.set(true);
                    }
                }
                Err(err) => create_error.set(Some(api::describe(&err))),
            }
            creating.set(false);
        });
    };

    // Change limit
    let limit_for = create_signal(String::new());
    let limit_value = create_signal(String::new());
    let limit_open = create_signal(false);
    let limit_error = create_signal(None::<String>);
    let saving = create_signal(false);
    let client = auth.client.clone();
    let save_limit = move || {
        let Ok(limit) = limit_value.get_clone().trim().replace([',', '_', ' '], "").parse::<std::num::NonZeroU64>()
        else {
            limit_error.set(Some("Enter a whole number of tokens, e.g. 100000.".into()));
            return;
        };
        let (client, id) = (client.clone(), limit_for.get_clone());
        saving.set(true);
        limit_error.set(None);
        sycamore::futures::spawn_local_scoped(async move {
            match client.update_user_limit(&id, &UpdateLimitRequest { new_limit: limit }).await {
                Ok(updated) => {
                    let user = updated.into_inner().user;
                    state.update(|s| {
                        if let Load::Ready(users) = s {
                            users.iter_mut().filter(|u| u.user_id == user.user_id).for_each(|u| *u = user.clone());
                        }
                    });
                    limit_open.set(false);
                    toasts.success(format!("{id}'s limit is now {} tokens.", format::tokens(limit.get())));
                }
                Err(err) => limit_error.set(Some(api::describe(&err))),
            }
            saving.set(false);
        });
    };

    // Delete
    let delete_for = create_signal(String::new());
    let delete_open = create_signal(false);
    let deleting = create_signal(false);
    let client = auth.client.clone();
    let delete = move || {
        let (client, id) = (client.clone(), delete_for.get_clone());
        deleting.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match client.delete_user(&id).await {
                Ok(_) => {
                    state.update(|s| {
                        if let Load::Ready(users) = s {
                            users.retain(|u| u.user_id != id);
                        }
                    });
                    toasts.success(format!("Deleted {id}."));
                }
                Err(err) => toasts.error(api::describe(&err)),
            }
            delete_open.set(false);
            deleting.set(false);
        });
    };

    let count = move || match state.get_clone() {
        Load::Ready(users) => users.len().to_string(),
        _ => "–".into(),
    };
    let rows = create_memo(move || match state.get_clone() {
        Load::Ready(users) => sorted(users, sort.get()),
        _ => Vec::new(),
    });
    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "User management" }
                        p(class="subtitle") { "Every user's token usage, live." }
                    }
                    div(class="row") {
                        LinkChip(link=link)
                        div(style="text-align: right") {
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
                form(class="stack", on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); create() }) {
                    div(class="form-grid") {
                        Input(id="new-user-id", label="User ID", value=new_id, placeholder="e.g. user-123", required=true,
                              help="Letters, digits, . _ - @ (up to 128).")
                        Input(id="new-user-limit", label="Token limit", value=new_limit, mode="numeric", required=true,
                              help="A positive whole number.")
                        div(class="form-actions field") {
                            Button(tone=Tone::Primary, kind="submit", loading=creating, full=true, test_id="create-user",
                                   disabled=move || new_id.with(|v| v.trim().is_empty()), on_click=|| ()) { "Create user" }
                        }
                    }
                    label(class="checkbox") {
                        input(r#type="checkbox", bind:checked=issue_key)
                        "Also issue the user's API key (shown once)"
                    }
                    (move || match create_error.get_clone() {
                        Some(message) => view! { Alert(tone=Tone::Danger, title="The user was not created.".to_string(), message=format!(" {message}"), test_id="create-error") },
                        None => view! {},
                    })
                }
            }
        }
        Card(label="Users") {
            (move || match state.get_clone() {
                Load::Loading => view! { div(class="card-body") { Loading(what="Loading users…") } },
                Load::Failed(message) => view! { div(class="card-body") { Alert(tone=Tone::Danger, title="Users could not be loaded.".to_string(), message=format!(" {message}"), test_id="load-error") } },
                Load::Ready(users) if users.is_empty() => view! { div(class="empty") { "No users yet. Create the first one above." } },
                Load::Ready(_) => view! {},
            })
            Table(label="Users", test_id="users-table") {
                thead {
                    tr {
                        SortHeader(label="User ID", key=SortBy::User, sort=sort)
                        SortHeader(label="Usage", key=SortBy::Usage, sort=sort, numeric=true)
                        SortHeader(label="Limit", key=SortBy::Limit, sort=sort, numeric=true)
                        SortHeader(label="Usage %", key=SortBy::Percentage, sort=sort)
                        th(scope="col", class="hide-md") { "Status" }
                        th(scope="col", style="text-align: right") { "Cost" }
                        th(scope="col", class="hide-md") { "Last updated" }
                        th(scope="col", style="text-align: right") { "Actions" }
                    }
                }
                tbody {
                    Keyed(
                        list=rows,
                        key=|u: &User| (u.user_id.clone(), u.token_usage, u.token_limit, u.last_updated.clone()),
                        view=move |u: User| {
                            let level = Level::of(u.percentage_used);
                            let tone = level.tone();
                            let label = level.label();
                            let id = u.user_id.clone();
                            let href = format!("/admin/users/{id}");
                            let (for_limit, for_delete) = (id.clone(), id.clone());
                            let limit_now = u.token_limit.to_string();
                            let usage = format::tokens(u.token_usage);
                            let limit = format::tokens(u.token_limit);
                            let bar_label = format!("{id} usage");
                            let pct_value = u.percentage_used;
                            let pct = format::percent(u.percentage_used);
                            let cost = format::dollars(u.total_cost);
                            let updated = format::timestamp(&u.last_updated);
                            let limit_test = format!("limit-{id}");
                            let delete_test = format!("delete-{id}");
                            let row_id = id.clone();
                            view! {
                                tr(data-user=row_id) {
                                    td { a(href=href) { (id) } }
                                    td(class="num", data-testid="usage") { (usage) }
                                    td(class="num", data-testid="limit") { (limit) }
                                    td {
                                        div(class="pct-cell") {
                                            Progress(label=bar_label, value=pct_value, tone=tone, small=true)
                                            span(data-testid="percentage") { (pct) }
                                        }
                                    }
                                    td(class="hide-md") { Chip(text=label, tone=tone) }
                                    td(class="num tone-success") { (cost) }
                                    td(class="mono muted hide-md") { (updated) }
                                    td(class="actions") {
                                        div(class="row", style="justify-content: flex-end; flex-wrap: nowrap") {
                                            Button(variant=Variant::Bordered, size=crate::ui::Size::Small, test_id=limit_test,
                                                   on_click=move || {
                                                       limit_for.set(for_limit.clone());
                                                       limit_value.set(limit_now.clone());
                                                       limit_error.set(None);
                                                       limit_open.set(true);
                                                   }) { "Limit" }
                                            Button(variant=Variant::Flat, tone=Tone::Danger, size=crate::ui::Size::Small, test_id=delete_test,
                                                   on_click=move || { delete_for.set(for_delete.clone()); delete_open.set(true); }) { "Delete" }
                                        }
                                    }
                                }
                            }
                        },
                    )
                }
            }
        }
        Modal(open=limit_open, id="limit-modal", title=move || format!("Change {}'s limit", limit_for.get_clone())) {
            form(on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); save_limit() }) {
                div(class="modal-body") {
                    Input(id="new-limit", label="New token limit", value=limit_value, mode="numeric",
                          help="A positive whole number. It may be below current usage.",
                          error=move || limit_error.get_clone())
                }
                div(class="modal-footer") {
                    Button(variant=Variant::Light, on_click=move || limit_open.set(false)) { "Cancel" }
                    Button(tone=Tone::Primary, kind="submit", loading=saving, test_id="save-limit", on_click=|| ()) { "Save limit" }
                }
            }
        }
        Modal(open=delete_open, id="delete-modal", title=move || format!("Delete {}?", delete_for.get_clone())) {
            div(class="modal-body") {
                p { "Deleting " strong { (move || delete_for.get_clone()) } " removes their usage and limit and revokes their API keys. This cannot be undone." }
            }
            div(class="modal-footer") {
                Button(variant=Variant::Light, on_click=move || delete_open.set(false)) { "Cancel" }
                Button(tone=Tone::Danger, loading=deleting, test_id="confirm-delete", on_click=delete) { "Delete" }
            }
        }
        Modal(open=key_open, id="key-modal", title="The new user's API key") {
            div(class="modal-body") {
                p { "This key is shown only once. Give it to " strong { (move || issued_key.get_clone().map(|k| k.0).unwrap_or_default()) } "; they sign in with it." }
                div(class="key-reveal", data-testid="issued-key") { (move || issued_key.get_clone().map(|k| k.1).unwrap_or_default()) }
            }
            div(class="modal-footer") {
                Button(tone=Tone::Primary, on_click=move || key_open.set(false)) { "Done" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, usage: u64, limit: u64) -> User {
        User {
            user_id: id.into(),
            token_limit: limit,
            token_usage: usage,
            total_cost: 0.0,
            last_updated: "2026-01-01T00:00:00.000Z".into(),
            remaining_tokens: limit.saturating_sub(usage),
            percentage_used: usage as f64 * 100.0 / limit as f64,
            held_tokens: 0,
            request_count: 0,
            tier: None,
        }
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
