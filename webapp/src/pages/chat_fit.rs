//! What fits before a prompt is sent: the estimate of a turn's tokens, which oldest exchanges
//! to drop so the rest fits, and how a blocking rule reads. Pure, so it is tested here.

use tokenmeter_client::types::{ChatTurn, ConversationTurn};

/// What the model needs about a text, estimated before sending: its words or a token per four
/// characters, whichever is more, and a few for the turn itself. The service counts exactly;
/// this only decides what to offer.
pub(super) fn estimate_tokens(text: &str) -> u64 {
    let words = text.split_whitespace().count() as u64;
    let quarters = (text.chars().count() as u64).div_ceil(4);
    words.max(quarters) + 3
}

/// The earlier turns sent with a prompt: every exchange from `from` on, oldest first.
pub(super) fn history(turns: &[ConversationTurn], from: usize) -> Vec<ChatTurn> {
    turns.iter().skip(from).map(|t| ChatTurn { role: t.role, text: t.text.clone() }).collect()
}

/// Where the context must start so that the turns from there plus `prompt` fit `budget`
/// tokens: whole exchanges are dropped, oldest first.
pub(super) fn first_kept(turns: &[ConversationTurn], from: usize, prompt: &str, budget: u64) -> usize {
    let mut start = from;
    let need = |start: usize| {
        turns.iter().skip(start).map(|t| estimate_tokens(&t.text)).sum::<u64>() + estimate_tokens(prompt) + 1
    };
    while start < turns.len() && need(start) > budget {
        start = (start + 2).min(turns.len());
    }
    start
}

/// The earlier turns do not fit what is left; the prompt alone would.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FitOffer {
    pub(super) prompt: String,
    /// Tokens the whole turn needs, and what is left, both estimated.
    pub(super) needed: u64,
    pub(super) left: u64,
}

/// A quota that blocks the chat until it resets.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Blocked {
    /// `daily request quota`, …
    pub(super) rule: String,
    /// ISO-8601 (none for a total).
    pub(super) resets_at: Option<String>,
}

/// A rule as people say it: `daily request quota`, `monthly cost quota for haiku`.
pub(super) fn rule_name(metric: &str, period: &str, model: Option<&str>) -> String {
    let period = match period {
        "day" => "daily",
        "month" => "monthly",
        _ => "lifetime",
    };
    let metric = match metric {
        "requests" => "request",
        "cost" => "cost",
        _ => "token",
    };
    match model {
        Some(model) => format!("{period} {metric} quota for {model}"),
        None => format!("{period} {metric} quota"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmeter_client::types::ChatRole;

    fn turn(role: ChatRole, text: &str) -> ConversationTurn {
        ConversationTurn { role, text: text.into(), at: String::new(), truncated: false, usage: None }
    }

    #[test]
    fn estimates_count_words_or_characters_and_the_turn() {
        assert_eq!(estimate_tokens("hello there world"), 3 + 5);
        assert_eq!(estimate_tokens("a b c d e f"), 6 + 3);
        assert_eq!(estimate_tokens(""), 3);
    }

    #[test]
    fn the_oldest_whole_exchanges_are_dropped_until_the_rest_fits() {
        let turns = [
            turn(ChatRole::User, "one two three"),
            turn(ChatRole::Assistant, "echo: one two three"),
            turn(ChatRole::User, "four"),
            turn(ChatRole::Assistant, "echo: four"),
        ];
        // Everything: 7 + 8 + 4 + 6 = 25, the prompt 4 + 1.
        assert_eq!(first_kept(&turns, 0, "hi", 30), 0);
        assert_eq!(first_kept(&turns, 0, "hi", 29), 2);
        assert_eq!(first_kept(&turns, 0, "hi", 14), 4);
        assert_eq!(first_kept(&turns, 2, "hi", 100), 2, "what was dropped stays dropped");
        assert_eq!(history(&turns, 2).len(), 2);
    }

    #[test]
    fn rules_read_as_people_say_them() {
        assert_eq!(rule_name("requests", "day", None), "daily request quota");
        assert_eq!(rule_name("cost", "month", Some("haiku")), "monthly cost quota for haiku");
        assert_eq!(rule_name("tokens", "total", None), "lifetime token quota");
    }
}
