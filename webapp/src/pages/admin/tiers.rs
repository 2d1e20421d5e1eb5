//! The administrator's tiers: each tier's rules, removed and added until saved
//! (`PUT /tiers/{tier}`), new tiers, and deleting one (refused while users are on it).

use sycamore::prelude::*;
use tokenmeter_client::types::{QuotaRule, RulesBody, TierView};

use super::rules::{AddRule, RuleList};
use crate::{
    api::ApiError,
    app::Session,
    ui::{Alert, Card, CardBody, CardHeader, Chip, Input, Loading, Toasts, Tone},
};

/// A tier as listed: from the service, or new here and not saved yet.
#[derive(Clone, PartialEq)]
struct Row {
    tier: TierView,
    draft: bool,
}

#[component]
pub fn Tiers() -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let rows = create_signal(None::<Vec<Row>>);
    let error = create_signal(None::<String>);
    let client = auth.client.clone();
    sycamore::futures::spawn_local_scoped(async move {
        match client.list_tiers().await {
            Ok(list) => {
                rows.set(Some(list.into_inner().tiers.into_iter().map(|tier| Row { tier, draft: false }).collect()))
            }
            Err(err) => error.set(Some(ApiError::from(err).to_string())),
        }
    });
    let name = create_signal(String::new());
    let add = move || {
        let new = name.get_clone().trim().to_owned();
        if new.is_empty() {
            return;
        }
        rows.update(|r| {
            let r = r.get_or_insert_with(Vec::new);
            if !r.iter().any(|row| row.tier.name == new) {
                r.push(Row { tier: TierView { name: new, quotas: vec![], users: 0 }, draft: true });
            }
        });
        name.set(String::new());
    };
    let list = move || rows.get_clone().unwrap_or_default();
    view! {
        Card {
            CardBody {
                h1 { "Tiers" }
                p(class="subtitle") { "Named sets of quota rules. Every rule that applies to a user must hold; the tightest wins." }
            }
        }
        (move || match (error.get_clone(), rows.with(Option::is_some)) {
            (Some(message), _) => view! { Alert(tone=Tone::Danger, title="The tiers could not be loaded.", message=message, test_id="load-error") },
            (None, false) => view! { Loading(what="Loading tiers…") },
            _ => view! {},
        })
        Keyed(list=list, key=|row: &Row| row.tier.name.clone(), view=move |row: Row| view! { TierCard(row=row, rows=rows) })
        Card(label="New tier") {
            CardHeader { h2 { "New tier" } }
            CardBody {
                form(class="row add-tier", novalidate=true, on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); add() }) {
                    Input(id="new-tier", label="Tier name", value=name, placeholder="e.g. team",
                          help="Letters, digits, . _ - (add its rules, then save).")
                    button(class="btn btn-bordered", r#type="submit", data-testid="add-tier") { "Add tier" }
                }
            }
        }
    }
}

/// One tier: its rules, edited here, saved or deleted.
#[component(inline_props)]
fn TierCard(row: Row, rows: Signal<Option<Vec<Row>>>) -> View {
    let session = use_context::<Session>();
    let toasts = use_context::<Toasts>();
    let name = row.tier.name.clone();
    let rules = create_signal(row.tier.quotas.clone());
    let saved = create_signal((!row.draft).then(|| row.tier.quotas.clone()));
    let (busy, error) = (create_signal(false), create_signal(None::<(&'static str, String)>));
    let (save_name, delete_name) = (name.clone(), name.clone());
    let save = move || {
        let Some(auth) = session.get() else { return };
        let (name, body) = (save_name.clone(), RulesBody { quotas: rules.get_clone() });
        busy.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match auth.client.put_tier(&name, &body).await {
                Ok(tier) => {
                    let quotas: Vec<QuotaRule> = tier.into_inner().quotas;
                    rules.set(quotas.clone());
                    saved.set(Some(quotas));
                    error.set(None);
                    toasts.success(format!("Saved tier {name}."));
                }
                Err(err) => error.set(Some(("The tier was not saved.", ApiError::from(err).to_string()))),
            }
            busy.set(false);
        });
    };
    let delete = move || {
        let name = delete_name.clone();
        let gone_name = name.clone();
        let gone = move || rows.update(|r| r.iter_mut().for_each(|r| r.retain(|row| row.tier.name != gone_name)));
        if saved.with(Option::is_none) {
            return gone();
        }
        let Some(auth) = session.get() else { return };
        busy.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match auth.client.delete_tier(&name).await {
                Ok(_) => {
                    toasts.success(format!("Deleted tier {name}."));
                    gone();
                }
                Err(err) => {
                    let err = ApiError::from(err);
                    let title = match &err {
                        ApiError::Service { code, .. } if code == "tier_in_use" => {
                            "Users are on this tier: move them to another tier first."
                        }
                        _ => "The tier was not deleted.",
                    };
                    error.set(Some((title, err.to_string())));
                    busy.set(false);
                }
            }
        });
    };
    let users = match row.tier.users {
        1 => "1 user".to_owned(),
        n => format!("{n} users"),
    };
    let changed = move || {
        let now = rules.get_clone();
        saved.with(|s| s.as_ref() != Some(&now))
    };
    let prefix = format!("tier-{name}");
    let (title, marker) = (name.clone(), name);
    view! {
        Card(label="Tier") {
            CardHeader {
                h2 { (title) }
                div(class="row") {
                    (move || if changed() { view! { Chip(text="Unsaved changes", tone=Tone::Warning) } } else { view! {} })
                    Chip(text=users)
                }
            }
            CardBody {
                div(class="stack", data-tier=marker) {
                    RuleList(rules=rules, empty="No rules yet: add one below.")
                    AddRule(rules=rules, prefix=prefix)
                    (move || match error.get_clone() {
                        Some((title, message)) => view! { Alert(tone=Tone::Danger, title=title, message=message, test_id="tier-error") },
                        None => view! {},
                    })
                    div(class="row") {
                        button(class="btn btn-primary", r#type="button", data-testid="save-tier", disabled=move || busy.get(), on:click=move |_| save()) { "Save tier" }
                        button(class="btn btn-flat-danger", r#type="button", data-testid="delete-tier", disabled=move || busy.get(), on:click=move |_| delete()) { "Delete tier" }
                    }
                }
            }
        }
    }
}
