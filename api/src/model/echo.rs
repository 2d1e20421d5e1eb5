//! The offline model: answers with the prompt, so the whole product can be tried without a
//! cloud account. Its token counts are documented and deterministic:
//!
//! - input: every whitespace-separated word of the system prompt and of each turn is one
//!   token, and each turn costs one more;
//! - output: the answer is `echo:` followed by the words of the last user turn, one token per
//!   word, cut at the call's output cap (then the stop reason is `max_tokens`).

use async_trait::async_trait;
use futures::stream;

use crate::domain::{
    ModelError, ModelEvent, ModelProvider, ModelReply, ModelRequest, ModelStream, Speaker, TokenUsage,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct EchoProvider;

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

impl EchoProvider {
    /// The words of the answer, each with the space that follows it, and the stop reason.
    fn answer(request: &ModelRequest) -> (Vec<String>, &'static str) {
        let prompt = request.turns.iter().rev().find(|t| t.speaker == Speaker::User).map_or("", |t| t.text.as_str());
        let all: Vec<&str> = std::iter::once("echo:").chain(prompt.split_whitespace()).collect();
        let cap = request.max_output_tokens as usize;
        let stop = if all.len() > cap { "max_tokens" } else { "end_turn" };
        let n = all.len().min(cap);
        let words = all[..n].iter().enumerate().map(|(i, w)| if i + 1 < n { format!("{w} ") } else { (*w).to_owned() });
        (words.collect(), stop)
    }

    fn usage(request: &ModelRequest, output: usize) -> TokenUsage {
        let input = request.system.as_deref().map_or(0, words)
            + request.turns.iter().map(|turn| words(&turn.text) + 1).sum::<u64>();
        TokenUsage { input, output: output as u64, ..Default::default() }
    }
}

#[async_trait]
impl ModelProvider for EchoProvider {
    fn name(&self) -> &'static str {
        "echo"
    }

    /// The echo model's count is exact and local: the bound is the count.
    fn input_bound(&self, request: &ModelRequest) -> u64 {
        Self::usage(request, 0).input
    }

    async fn count_input_tokens(&self, request: &ModelRequest) -> Result<u64, ModelError> {
        Ok(Self::usage(request, 0).input)
    }

    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let (words, stop) = Self::answer(request);
        Ok(ModelReply { usage: Self::usage(request, words.len()), text: words.concat(), stop_reason: stop.into() })
    }

    async fn converse_stream(&self, request: &ModelRequest) -> Result<ModelStream, ModelError> {
        let (words, stop) = Self::answer(request);
        let finished = ModelEvent::Finished { usage: Self::usage(request, words.len()), stop_reason: stop.into() };
        let events = words.into_iter().map(ModelEvent::Text).chain([finished]).map(Ok);
        Ok(Box::pin(stream::iter(events.collect::<Vec<_>>())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Turn;

    fn request(prompt: &str, cap: u32) -> ModelRequest {
        ModelRequest {
            model_id: "m".into(),
            system: Some("be brief".into()),
            turns: vec![Turn { speaker: Speaker::User, text: prompt.into() }],
            max_output_tokens: cap,
        }
    }

    #[tokio::test]
    async fn counts_are_words_and_the_answer_respects_the_cap() {
        let reply = EchoProvider.converse(&request("hello there world", 100)).await.unwrap();
        assert_eq!(reply.text, "echo: hello there world");
        // input: 2 (system) + 3 words + 1 for the turn; output: 4 words.
        assert_eq!((reply.usage.input, reply.usage.output, reply.stop_reason.as_str()), (6, 4, "end_turn"));

        let capped = EchoProvider.converse(&request("hello there world", 2)).await.unwrap();
        assert_eq!(
            (capped.text.as_str(), capped.usage.output, capped.stop_reason.as_str()),
            ("echo: hello", 2, "max_tokens")
        );
        assert_eq!(EchoProvider.count_input_tokens(&request("hello there world", 2)).await.unwrap(), 6);
    }
}
