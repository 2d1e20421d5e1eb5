//! Quota rules as people read and write them: `500 requests a day`, `$5.00 a month for haiku`;
//! a list that removes rules and a form that adds one (a tier's rules, a user's own).

use std::num::NonZeroU64;

use sycamore::prelude::*;
use tokenmeter_client::types::{MetricName, PeriodName, QuotaRule, QuotaState};

use crate::{format, ui::Input};

/// `500 requests a day`, `$5.00 a month`, `100,000 tokens in all for haiku`.
pub(super) fn rule_text(rule: &QuotaRule) -> String {
    let (amount, period, model) = match rule {
        QuotaRule::Tokens { limit, period, model } => {
            (format!("{} tokens", format::tokens(limit.get())), period, model)
        }
        QuotaRule::Requests { limit, period, model } => {
            (format!("{} requests", format::tokens(limit.get())), period, model)
        }
        QuotaRule::Cost { limit, period, model } => (format::money(*limit), period, model),
    };
    let period = match period {
        PeriodName::Day => "a day",
        PeriodName::Month => "a month",
        PeriodName::Total => "in all",
    };
    match model {
        Some(model) => format!("{amount} {period} for {model}"),
        None => format!("{amount} {period}"),
    }
}

/// The rule a quota's status reports (`None` for a figure that is not a whole number).
pub(super) fn rule_of(state: &QuotaState) -> Option<QuotaRule> {
    let (period, model) = (state.period, state.model.clone());
    Some(match state.metric {
        MetricName::Tokens => QuotaRule::Tokens { limit: NonZeroU64::new(state.limit as u64)?, period, model },
        MetricName::Requests => QuotaRule::Requests { limit: NonZeroU64::new(state.limit as u64)?, period, model },
        MetricName::Cost => QuotaRule::Cost { limit: state.limit, period, model },
    })
}

/// The rule typed in the form, or the sentence saying what to fix.
fn parse_rule(metric: &str, period: &str, limit: &str, model: &str) -> Result<QuotaRule, String> {
    let period = match period {
        "day" => PeriodName::Day,
        "month" => PeriodName::Month,
        _ => PeriodName::Total,
    };
    let model = Some(model.trim().to_owned()).filter(|m| !m.is_empty());
    Ok(match metric {
        "requests" => QuotaRule::Requests { limit: format::parse_tokens("Limit", limit)?, period, model },
        "cost" => match micros(limit) {
            Some(micros) if micros > 0 => QuotaRule::Cost { limit: micros as f64 / 1e6, period, model },
            _ => return Err("Limit must be a positive amount of dollars with at most 6 decimals (e.g. 5.00).".into()),
        },
        _ => QuotaRule::Tokens { limit: format::parse_tokens("Limit", limit)?, period, model },
    })
}

/// Dollars as typed (`5`, `$2.50`, `0.000001`) in whole millionths; `None` past 6 decimals.
/// (Parsed by hand: the standard float parser's tables would add kilobytes to the app.)
fn micros(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('$');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if fraction.len() > 6 || !digits(whole) || !digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(fraction)
}

/// The rules of a tier or a user, each with a button that removes it (until saved).
#[component(inline_props)]
pub(super) fn RuleList(rules: Signal<Vec<QuotaRule>>, empty: &'static str) -> View {
    view! {
        (move || {
            let shown = rules.get_clone();
            if shown.is_empty() {
                return view! { p(class="muted") { (empty) } };
            }
            let items = shown
                .iter()
                .enumerate()
                .map(|(i, rule)| {
                    let text = rule_text(rule);
                    let label = format!("Remove {text}");
                    view! {
                        li(class="rule", data-testid="rule") {
                            span { (text) }
                            button(class="btn btn-light btn-sm", r#type="button", aria-label=label,
                                   on:click=move |_| rules.update(|r| { r.remove(i); })) { "Remove" }
                        }
                    }
                })
                .collect::<Vec<View>>();
            view! { ul(class="rules") { (items) } }
        })
    }
}

/// A form that adds a rule to `rules` (`prefix` keeps its field IDs unique on the page).
#[component(inline_props)]
pub(super) fn AddRule(rules: Signal<Vec<QuotaRule>>, prefix: String) -> View {
    let (metric, period) = (create_signal("requests".to_owned()), create_signal("day".to_owned()));
    let (limit, model, error) = (create_signal(String::new()), create_signal(String::new()), create_signal(None));
    let add = move || match parse_rule(&metric.get_clone(), &period.get_clone(), &limit.get_clone(), &model.get_clone())
    {
        Ok(rule) => {
            rules.update(|r| r.push(rule));
            limit.set(String::new());
            error.set(None);
        }
        Err(message) => error.set(Some(message)),
    };
    let (metric_id, period_id) = (format!("{prefix}-metric"), format!("{prefix}-period"));
    let (metric_for, period_for) = (metric_id.clone(), period_id.clone());
    let (limit_id, model_id) = (format!("{prefix}-limit"), format!("{prefix}-model"));
    view! {
        div(class="add-rule", data-testid="add-rule") {
            div(class="field") {
                label(r#for=metric_for) { "Metric" }
                select(id=metric_id, class="input", bind:value=metric) {
                    option(value="requests") { "Requests" }
                    option(value="tokens") { "Tokens" }
                    option(value="cost") { "Cost (USD)" }
                }
            }
            div(class="field") {
                label(r#for=period_for) { "Period" }
                select(id=period_id, class="input", bind:value=period) {
                    option(value="day") { "A day" }
                    option(value="month") { "A month" }
                    option(value="total") { "In all" }
                }
            }
            Input(id=limit_id, label="Limit", value=limit, mode="decimal", error=move || error.get_clone())
            Input(id=model_id, label="Model (optional)", value=model, placeholder="haiku")
            div(class="field form-actions") {
                button(class="btn btn-bordered", r#type="button", data-testid="add-rule-button", on:click=move |_| add()) { "Add rule" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_sentences_and_parse_as_typed() {
        let rule = parse_rule("requests", "day", "500", "").unwrap();
        assert_eq!(rule_text(&rule), "500 requests a day");
        assert_eq!(rule_text(&parse_rule("cost", "month", "$5.00", "haiku").unwrap()), "$5.00 a month for haiku");
        assert_eq!(rule_text(&parse_rule("tokens", "total", "100,000", "").unwrap()), "100,000 tokens in all");
        assert!(parse_rule("cost", "day", "0.0000001", "").unwrap_err().contains("6 decimals"));
        assert_eq!(
            (micros("0.000001"), micros("$2.5"), micros("3"), micros(".5")),
            (Some(1), Some(2_500_000), Some(3_000_000), Some(500_000))
        );
        assert_eq!((micros("1e3"), micros("-1"), micros("."), micros("")), (None, None, None, None));
        assert_eq!(
            parse_rule("tokens", "day", "0", ""),
            Err("Limit must be a positive whole number (e.g. 100000).".into())
        );
    }
}
