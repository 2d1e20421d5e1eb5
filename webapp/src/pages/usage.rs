//! The figures of one user, as they change: a user's own dashboard and an administrator's
//! view of a user show the same.

use sycamore::prelude::*;
use tokenmeter_client::types::User;

use super::LinkChip;
use crate::{
    api::Live,
    format::{self, Level},
    ui::{Alert, Card, CardBody, CardHeader, Chip, Progress, Stat, Table, Tone},
};

/// Whose figures these are, for the sentences around them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Viewer {
    /// The user themself.
    Own,
    /// An administrator looking at a user.
    #[cfg_attr(
        not(feature = "admin"),
        expect(dead_code, reason = "only the administrator's pages show a user to an administrator")
    )]
    Admin,
}

#[component(inline_props)]
pub(super) fn UsageView(live: Live<User>, title: &'static str, viewer: Viewer) -> View {
    View::from(move || {
        let Some(u) = live.value.get_clone() else { return view! {} };
        let level = Level::of(u.percentage_used);
        let (subtitle, reached) = match viewer {
            Viewer::Own => (
                format!("Live usage for {}", u.user_id),
                format!(
                    "You have used {} of {} tokens; requests that spend tokens are refused until an administrator raises the limit.",
                    format::tokens(u.token_usage),
                    format::tokens(u.token_limit)
                ),
            ),
            Viewer::Admin => (
                format!("Usage of {}", u.user_id),
                format!(
                    "{} has used {} of {} tokens; requests that spend tokens are refused until the limit is raised.",
                    u.user_id,
                    format::tokens(u.token_usage),
                    format::tokens(u.token_limit)
                ),
            ),
        };
        let warn_title = format!("{} of the limit used.", format::percent(u.percentage_used));
        let warn_message = format!("{} tokens remain.", format::tokens(u.remaining_tokens));
        let alert = match level {
            Level::Reached => view! {
                Alert(tone=Tone::Danger, title="Token limit reached.", message=reached, test_id="limit-reached")
            },
            Level::Warning => view! {
                Alert(tone=Tone::Warning, title=warn_title, message=warn_message, test_id="limit-warning")
            },
            Level::Healthy => view! {},
        };
        let (cost, recorded_only) = format::cost_of(u.total_cost, u.token_usage);
        let rows: Vec<(&'static str, String, Option<&'static str>)> = vec![
            ("User ID", u.user_id.clone(), None),
            ("Token limit", format::tokens(u.token_limit), None),
            ("Tokens consumed", format::tokens(u.token_usage), None),
            ("Tokens remaining", format::tokens(u.remaining_tokens), None),
            ("Usage percentage", format::percent(u.percentage_used), None),
            ("Total cost", format!("{cost} USD"), recorded_only),
            ("Last updated", format::timestamp(&u.last_updated), None),
        ];
        let rows = rows
            .into_iter()
            .map(|(k, v, note)| {
                let note = note.map(|n| view! { span(class="cell-note") { (n) } }).unwrap_or_default();
                view! { tr { th(scope="row") { (k) } td(class="num") { (v) (note) } } }
            })
            .collect::<Vec<View>>();
        let tone = level.tone();
        let usage = format::tokens(u.token_usage);
        let of_limit = format!("of {} tokens", format::tokens(u.token_limit));
        let remaining = format::tokens(u.remaining_tokens);
        let remaining_tone = if u.remaining_tokens == 0 { Tone::Danger } else { Tone::Default };
        let cost_note = recorded_only.unwrap_or("model calls (USD)");
        let cost_tone = if u.total_cost > 0.0 { Tone::Success } else { Tone::Default };
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
                            LinkChip(link=live.link)
                            Chip(text=label, tone=tone, dot=true)
                        }
                    }
                }
            }
            (alert)
            div(class="grid-4") {
                Stat(label="Token usage", value=usage, note=of_limit, test_id="usage")
                Stat(label="Remaining", value=remaining, note="tokens available", tone=remaining_tone, test_id="remaining")
                Stat(label="Total cost", value=cost, note=cost_note, tone=cost_tone, test_id="cost")
                Stat(label="Status", value=label, note=pct_used, tone=tone, test_id="status")
            }
            Card {
                CardHeader {
                    h2 { "Usage progress" }
                    span(class="muted mono", data-testid="percentage") { (pct) }
                }
                CardBody {
                    Progress(label="Share of the token limit used".to_string(), value=value, tone=tone,
                             start="0", end=end)
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
