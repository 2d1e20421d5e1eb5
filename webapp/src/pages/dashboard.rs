use sycamore::prelude::*;
use sycamore_router::navigate;
use tokenmeter_client::types::{UpdateLimitRequest, User};

use super::LinkChip;
use crate::{
    api::{self, Link, Load},
    app::Session,
    format::{self, Level},
    ui::{
        Alert, Button, Card, CardBody, CardHeader, Chip, Input, Loading, Modal, Progress, Size, Stat, Table, Toasts,
        Tone, Variant,
    },
};

/// A user's own dashboard: usage, limit, remaining, percentage, cost, live.
#[component(inline_props)]
pub fn Dashboard(id: String) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let state = create_signal(Load::Loading);
    let link = create_signal(Link::Connecting);
    api::follow_user(auth.client.clone(), id.clone(), state, link);
    view! {
        (move || match state.get_clone() {
            Load::Loading => view! { Loading(what="Loading your usage…") },
            Load::Failed(message) => view! { Alert(tone=Tone::Danger, title="Your usage could not be loaded.".to_string(), message=format!(" {message}"), test_id="load-error") },
            Load::Ready(_) => view! {},
        })
        UsageView(state=state, link=link, title="Token usage dashboard", admin=false)
    }
}

/// An administrator's view of one user: the same figures, plus changing the limit,
/// deleting, and the user's API snippets.
#[component(inline_props)]
pub fn UserDetail(id: String) -> View {
    let session = use_context::<Session>();
    let toasts = use_context::<Toasts>();
    let Some(auth) = session.get() else { return view! {} };
    let state = create_signal(Load::Loading);
    let link = create_signal(Link::Connecting);
    api::follow_user(auth.client.clone(), id.clone(), state, link);

    let limit_open = create_signal(false);
    let new_limit = create_signal(String::new());
    let limit_error = create_signal(None::<String>);
    let saving = create_signal(false);
    let delete_open = create_signal(false);
    let deleting = create_signal(false);

    let client = auth.client.clone();
    let user_id = id.clone();
    let save_limit = move || {
        let Ok(limit) = new_limit.get_clone().trim().replace([',', '_', ' '], "").parse::<std::num::NonZeroU64>()
        else {
            limit_error.set(Some("Enter a whole number of tokens, e.g. 100000.".into()));
            return;
        };
        let (client, user_id) = (client.clone(), user_id.clone());
        saving.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match client.update_user_limit(&user_id, &UpdateLimitRequest { new_limit: limit }).await {
                Ok(updated) => {
                    state.set(Load::Ready(updated.into_inner().user));
                    limit_open.set(false);
                    toasts.success(format!("{user_id}'s limit is now {} tokens.", format::tokens(limit.get())));
                }
                Err(err) => limit_error.set(Some(api::describe(&err))),
            }
            saving.set(false);
        });
    };
    let client = auth.client.clone();
    let user_id = id.clone();
    let delete = move || {
        let (client, user_id) = (client.clone(), user_id.clone());
        deleting.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match client.delete_user(&user_id).await {
                Ok(_) => {
                    toasts.success(format!("Deleted {user_id}."));
                    navigate("/admin/users");
                }
                Err(err) => {
                    toasts.error(api::describe(&err));
                    delete_open.set(false);
                    deleting.set(false);
                }
            }
        });
    };
    let open_limit = move || {
        if let Load::Ready(user) = state.get_clone() {
            new_limit.set(user.token_limit.to_string());
        }
        limit_error.set(None);
        limit_open.set(true);
    };
    let snippets = format!("/snippets/{id}");
    let heading = id.clone();
    view! {
        div(class="row-between") {
            a(href="/admin/users") { "← All users" }
            div(class="row") {
                a(class="btn btn-bordered btn-sm", href=snippets) { "API snippets" }
                Button(variant=Variant::Flat, tone=Tone::Primary, size=Size::Small, test_id="change-limit", on_click=open_limit) { "Change limit" }
                Button(variant=Variant::Flat, tone=Tone::Danger, size=Size::Small, test_id="delete-user", on_click=move || delete_open.set(true)) { "Delete user" }
            }
        }
        (move || match state.get_clone() {
            Load::Loading => view! { Loading(what="Loading the user…") },
            Load::Failed(message) => view! { Alert(tone=Tone::Danger, title="This user could not be loaded.".to_string(), message=format!(" {message}"), test_id="load-error") },
            Load::Ready(_) => view! {},
        })
        UsageView(state=state, link=link, title="User detail", admin=true)
        Modal(open=limit_open, id="limit-modal", title=format!("Change {heading}'s limit")) {
            form(on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); save_limit() }) {
                div(class="modal-body") {
                    Input(id="new-limit", label="New token limit", value=new_limit, mode="numeric",
                          help="A positive whole number. It may be below current usage.",
                          error=move || limit_error.get_clone())
                }
                div(class="modal-footer") {
                    Button(variant=Variant::Light, on_click=move || limit_open.set(false)) { "Cancel" }
                    Button(tone=Tone::Primary, kind="submit", loading=saving, test_id="save-limit", on_click=|| ()) { "Save limit" }
                }
            }
        }
        Modal(open=delete_open, id="delete-modal", title="Delete this user?") {
            div(class="modal-body") {
                p { "Deleting " strong { (id.clone()) } " removes their usage and limit and revokes their API keys. This cannot be undone." }
            }
            div(class="modal-footer") {
                Button(variant=Variant::Light, on_click=move || delete_open.set(false)) { "Cancel" }
                Button(tone=Tone::Danger, loading=deleting, test_id="confirm-delete", on_click=delete) { "Delete" }
            }
        }
    }
}

/// The figures of one user, as they change.
#[component(inline_props)]
fn UsageView(state: Signal<Load<User>>, link: Signal<Link>, title: &'static str, admin: bool) -> View {
    let user = create_memo(move || match state.get_clone() {
        Load::Ready(user) => Some(user),
        _ => None,
    });
    View::from(move || {
        let Some(u) = user.get_clone() else { return view! {} };
        let level = Level::of(u.percentage_used);
        let subtitle = if admin { format!("Usage of {}", u.user_id) } else { format!("Live usage for {}", u.user_id) };
        let who = if admin { u.user_id.clone() } else { "You".into() };
        let reached = format!(
            " {who} have used {} of {} tokens; requests that spend tokens are refused until the limit is raised.",
            format::tokens(u.token_usage),
            format::tokens(u.token_limit)
        )
        .replace(&format!("{who} have"), &if admin { format!("{who} has") } else { "You have".into() });
        let warn_title = format!("{} of the limit used.", format::percent(u.percentage_used));
        let warn_message = format!(" {} tokens remain.", format::tokens(u.remaining_tokens));
        let alert = match level {
            Level::Reached => view! {
                Alert(tone=Tone::Danger, title="Token limit reached.".to_string(), message=reached, test_id="limit-reached")
            },
            Level::Warning => view! {
                Alert(tone=Tone::Warning, title=warn_title, message=warn_message, test_id="limit-warning")
            },
            Level::Healthy => view! {},
        };
        let rows: Vec<(&'static str, String)> = vec![
            ("User ID", u.user_id.clone()),
            ("Token limit", format::tokens(u.token_limit)),
            ("Tokens consumed", format::tokens(u.token_usage)),
            ("Tokens remaining", format::tokens(u.remaining_tokens)),
            ("Usage percentage", format::percent(u.percentage_used)),
            ("Total cost", format!("{} USD", format::dollars(u.total_cost))),
            ("Last updated", format::timestamp(&u.last_updated)),
        ];
        let rows =
            rows.into_iter().map(|(k, v)| view! { tr { td { (k) } td(class="num") { (v) } } }).collect::<Vec<View>>();
        let tone = level.tone();
        let usage = format::tokens(u.token_usage);
        let of_limit = format!("of {} tokens", format::tokens(u.token_limit));
        let remaining = format::tokens(u.remaining_tokens);
        let remaining_tone = if u.remaining_tokens == 0 { Tone::Danger } else { Tone::Default };
        let cost = format::dollars(u.total_cost);
        let label = level.label();
        let pct = format::percent(u.percentage_used);
        let pct_used = format!("{pct} used");
        let end = format!("{} tokens", format::tokens(u.token_limit));
        let value = u.percentage_used;
        view! {
            Card {
                CardBody {
                    div(class="row-between") {
                        div {
                            h1 { (title) }
                            p(class="subtitle") { (subtitle) }
                        }
                        div(class="row") {
                            LinkChip(link=link)
                            Chip(text=label, tone=tone, dot=true)
                        }
                    }
                }
            }
            (alert)
            div(class="grid-4") {
                Stat(label="Token usage", value=usage, note=of_limit, test_id="usage")
                Stat(label="Remaining", value=remaining, note="tokens available", tone=remaining_tone, test_id="remaining")
                Stat(label="Total cost", value=cost, note="inference cost (USD)", tone=Tone::Success, test_id="cost")
                Stat(label="Status", value=label, note=pct_used, tone=tone, test_id="status")
            }
            Card {
                CardHeader {
                    h2 { "Usage progress" }
                    span(class="muted mono", data-testid="percentage") { (pct) }
                }
                CardBody {
                    Progress(label="Share of the token limit used".to_string(), value=value, tone=tone,
                             start="0".to_string(), end=end)
                }
            }
            Card {
                CardHeader { h2 { "Usage details" } }
                Table(label="Usage details") {
                    thead { tr { th(scope="col") { "Metric" } th(scope="col", style="text-align: right") { "Value" } } }
                    tbody(class="kv") { (rows) }
                }
            }
        }
    })
}
