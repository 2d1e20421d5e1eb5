//! The administrator's dashboard: the whole system at a glance, live (from the user list's
//! stream): users, total usage, total cost, who is near or at the limit.

use sycamore::prelude::*;
use tokenmeter_client::types::User;

use crate::pages::{LinkChip, LiveStatus};
use crate::{
    api::{self, Live},
    app::Session,
    format::{self, Level},
    ui::{Card, CardBody, CardHeader, Chip, Stat, Table, Tone},
};

/// The system's figures, summed over every user.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Totals {
    pub(super) users: usize,
    pub(super) usage: u64,
    pub(super) limits: u64,
    pub(super) cost: f64,
    /// Users at 80 % or more of their limit (those at 100 % included).
    pub(super) warning: usize,
    /// Users at or over their limit.
    pub(super) reached: usize,
}

impl Totals {
    pub(super) fn of(users: &[User]) -> Self {
        let mut totals = Totals { users: users.len(), ..Totals::default() };
        for u in users {
            totals.usage += u.token_usage;
            totals.limits += u.token_limit;
            // Sum in whole millionths of a dollar, so the total is the sum of what is shown.
            totals.cost += (u.total_cost * 1e6).round();
            match Level::of(u.percentage_used) {
                Level::Reached => (totals.warning, totals.reached) = (totals.warning + 1, totals.reached + 1),
                Level::Warning => totals.warning += 1,
                Level::Healthy => {}
            }
        }
        totals.cost /= 1e6;
        totals
    }
}

#[component]
pub fn Overview() -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let live = Live::<Vec<User>>::new();
    api::follow_users(auth.client.clone(), live);
    let totals = create_memo(move || live.value.with(|v| v.as_deref().map(Totals::of)));
    // Placeholders until the first figures arrive, so nothing moves when they do.
    let figures = move || {
        let Some(t) = totals.get_clone() else {
            return view! {
                div(class="grid-4", aria-busy="true") {
                    Stat(label="Users", value="–", note="loading…")
                    Stat(label="Total usage", value="–", note="loading…")
                    Stat(label="Total cost", value="–", note="loading…")
                    Stat(label="Near or at the limit", value="–", note="loading…")
                }
            };
        };
        let share = if t.limits > 0 { t.usage as f64 * 100.0 / t.limits as f64 } else { 0.0 };
        let warning_tone = if t.warning > 0 { Tone::Warning } else { Tone::Default };
        let reached_tone = if t.reached > 0 { Tone::Danger } else { Tone::Default };
        view! {
            div(class="grid-4") {
                Stat(label="Users", value=t.users.to_string(), note="with a token limit", test_id="total-users")
                Stat(label="Total usage", value=format::tokens(t.usage),
                     note=format!("{} of all limits", format::percent(share)), test_id="total-usage")
                Stat(label="Total cost", value=format::money(t.cost), note="model calls (USD)", test_id="total-cost")
                Stat(label="Near or at the limit", value=format!("{} / {}", t.warning, t.reached),
                     note="users at ≥ 80 % / at 100 %", tone=if t.reached > 0 { reached_tone } else { warning_tone },
                     test_id="at-limit")
            }
        }
    };
    // The five users nearest their limit.
    let nearest = move || {
        let mut users = live.value.get_clone().unwrap_or_default();
        users.sort_by(|a, b| b.percentage_used.total_cmp(&a.percentage_used).then_with(|| a.user_id.cmp(&b.user_id)));
        users.truncate(5);
        users
            .into_iter()
            .map(|u| {
                let level = Level::of(u.percentage_used);
                let href = format!("/admin/users/{}", u.user_id);
                let (row, id) = (u.user_id.clone(), u.user_id);
                let usage = format!("{} / {}", format::tokens(u.token_usage), format::tokens(u.token_limit));
                let used = format::percent(u.percentage_used);
                view! {
                    tr(data-user=row) {
                        td(class="cell-title", data-label="User") { a(href=href) { (id) } }
                        td(class="num", data-label="Usage") { (usage) }
                        td(class="num", data-label="Used") { (used) }
                        td(data-label="Status") { Chip(text=level.label(), tone=level.tone()) }
                    }
                }
            })
            .collect::<Vec<View>>()
    };
    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "System dashboard" }
                        p(class="subtitle") { "Every user's usage and cost, summed, live." }
                    }
                    LinkChip(link=live.link)
                }
            }
        }
        LiveStatus(live=live, failed="The figures could not be refreshed.")
        (figures)
        Card {
            CardHeader {
                h2 { "Nearest their limit" }
                a(class="back-link", href="/admin/users") { "All users →" }
            }
            Table(label="Users nearest their limit", test_id="nearest", cards=true) {
                thead { tr {
                    th(scope="col") { "User" }
                    th(scope="col", style="text-align: right") { "Usage / limit" }
                    th(scope="col", style="text-align: right") { "Used" }
                    th(scope="col") { "Status" }
                } }
                tbody { (nearest) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_user as user;

    #[test]
    fn the_system_figures_sum_every_user() {
        let users = [user("a", 850, 1000, 0.000072), user("b", 100, 100, 0.1), user("c", 0, 100_000, 0.0)];
        let t = Totals::of(&users);
        assert_eq!((t.users, t.usage, t.limits, t.warning, t.reached), (3, 950, 101_100, 2, 1));
        assert_eq!(format::money(t.cost), "$0.100072");
        assert_eq!(Totals::of(&[]), Totals::default());
    }
}
