//! An administrator's controls of one user's quotas: the tier (`PUT /users/{id}/tier`, none
//! removes it) and the user's own extra rules (`PUT /users/{id}/quotas`).

use sycamore::prelude::*;
use tokenmeter_client::types::{QuotaRule, RulesBody, SetTierBody};

use super::rules::{AddRule, RuleList, rule_of};
use crate::pages::quotas::Quotas;
use crate::{
    api::ApiError,
    app::Session,
    ui::{Alert, Card, CardBody, CardHeader, Toasts, Tone},
};

#[component(inline_props)]
pub(super) fn UserQuotaEditor(id: String, quotas: Quotas) -> View {
    let session = use_context::<Session>();
    let toasts = use_context::<Toasts>();
    let Some(auth) = session.get() else { return view! {} };
    let tiers = create_signal(Vec::<String>::new());
    let client = auth.client.clone();
    sycamore::futures::spawn_local_scoped(async move {
        if let Ok(list) = client.list_tiers().await {
            tiers.set(list.into_inner().tiers.into_iter().map(|t| t.name).collect());
        }
    });
    // The tier picked and the user's own rules start from the first load, then are edited here.
    let (tier, rules) = (create_signal(String::new()), create_signal(Vec::<QuotaRule>::new()));
    let started = create_signal(false);
    create_effect(move || {
        // Read, then set: a signal is not set while another is borrowed.
        if let Some(q) = quotas.value.get_clone()
            && !started.get_untracked()
        {
            started.set(true);
            tier.set(q.tier.clone().unwrap_or_default());
            rules.set(q.quotas.iter().filter(|s| s.source == "user").filter_map(rule_of).collect());
        }
    });
    let (busy, error) = (create_signal(false), create_signal(None::<String>));
    let send = move |what: &'static str| {
        let (client, id) = (auth.client.clone(), id.clone());
        busy.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            let answer = if what == "tier" {
                let picked = Some(tier.get_clone()).filter(|t| !t.is_empty());
                client.set_user_tier(&id, &SetTierBody { tier: picked }).await
            } else {
                client.set_user_quotas(&id, &RulesBody { quotas: rules.get_clone() }).await
            };
            match answer {
                Ok(_) => {
                    error.set(None);
                    quotas.reload();
                    toasts.success(if what == "tier" {
                        format!("Saved {id}'s tier.")
                    } else {
                        format!("Saved {id}'s rules.")
                    });
                }
                Err(err) => error.set(Some(ApiError::from(err).to_string())),
            }
            busy.set(false);
        });
    };
    let options = move || {
        tiers
            .get_clone()
            .into_iter()
            .map(|name| {
                let selected = tier.with(|t| *t == name);
                let value = name.clone();
                view! { option(value=value, selected=selected) { (name) } }
            })
            .collect::<Vec<View>>()
    };
    let send_rules = send.clone();
    view! {
        Card(label="Tier and own rules") {
            CardHeader { h2 { "Tier and own rules" } }
            CardBody {
                div(class="stack") {
                    div(class="row add-tier") {
                        div(class="field") {
                            label(r#for="user-tier") { "Tier" }
                            select(id="user-tier", class="input", data-testid="user-tier", bind:value=tier) {
                                option(value="") { "No tier" }
                                (options)
                            }
                        }
                        button(class="btn btn-bordered", r#type="button", data-testid="save-user-tier", disabled=move || busy.get(),
                               on:click=move |_| send("tier")) { "Set tier" }
                    }
                    h3 { "Own rules" }
                    p(class="muted") { "Rules for this user only, on top of the tier's and the token limit." }
                    RuleList(rules=rules, empty="No own rules.")
                    AddRule(rules=rules, prefix="user-rule".to_owned())
                    div { button(class="btn btn-primary", r#type="button", data-testid="save-user-rules", disabled=move || busy.get(),
                                 on:click=move |_| send_rules("rules")) { "Save own rules" } }
                    (move || match error.get_clone() {
                        Some(message) => view! { Alert(tone=Tone::Danger, title="Not saved.", message=message, test_id="user-quota-error") },
                        None => view! {},
                    })
                }
            }
        }
    }
}
