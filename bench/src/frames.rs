//! ConverseStream's body: AWS event-stream frames (`application/vnd.amazon.eventstream`),
//! encoded by the SDK's own `aws_smithy_eventstream::frame::write_message_to`, in the order
//! Bedrock sends them: messageStart, contentBlockDelta…, contentBlockStop, messageStop, metadata.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Value, json};

/// Most deltas one answer is split into.
const MAX_DELTAS: usize = 8;

/// The body of one streamed answer of `words`, as the chunks the stand-in sends: the first
/// holds messageStart and the first delta (time to first token), then one delta per chunk,
/// then the closing events together.
pub(crate) fn converse_stream(words: &[String], input: u64, output: u64, stop_reason: &str) -> Vec<Bytes> {
    let per_delta = words.len().div_ceil(MAX_DELTAS).max(1);
    let mut deltas = words.chunks(per_delta).map(|piece| {
        event("contentBlockDelta", &json!({ "contentBlockIndex": 0, "delta": { "text": piece.concat() } }))
    });
    let mut chunks = vec![encode(&[
        event("messageStart", &json!({ "role": "assistant" })),
        deltas
            .next()
            .unwrap_or_else(|| event("contentBlockDelta", &json!({ "contentBlockIndex": 0, "delta": { "text": "" } }))),
    ])];
    chunks.extend(deltas.map(|delta| encode(&[delta])));
    chunks.push(encode(&[
        event("contentBlockStop", &json!({ "contentBlockIndex": 0 })),
        event("messageStop", &json!({ "stopReason": stop_reason })),
        event(
            "metadata",
            &json!({
                "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
                "metrics": { "latencyMs": 0 }
            }),
        ),
    ]));
    chunks
}

fn event(kind: &str, payload: &Value) -> Message {
    Message::new(payload.to_string())
        .add_header(Header::new(":event-type", HeaderValue::String(kind.to_owned().into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
}

fn encode(messages: &[Message]) -> Bytes {
    let mut body = Vec::new();
    for message in messages {
        write_message_to(message, &mut body).expect("an event-stream frame encodes");
    }
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::read_message_from;

    use super::*;

    fn event_types(chunks: &[Bytes]) -> Vec<(String, Value)> {
        let mut body: &[u8] = &chunks.concat();
        let mut found = Vec::new();
        while !body.is_empty() {
            let message = read_message_from(&mut body).expect("a valid frame, CRCs included");
            let kind = message.headers().iter().find(|h| h.name().as_str() == ":event-type").expect("a type");
            let kind = kind.value().as_string().expect("a string").as_str().to_owned();
            found.push((kind, serde_json::from_slice(message.payload()).expect("a JSON payload")));
        }
        found
    }

    #[test]
    fn frames_decode_in_bedrock_order_with_the_whole_text_and_usage() {
        let words: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
        let chunks = converse_stream(&words, 11, 20, "end_turn");
        assert_eq!(chunks.len(), 1 + 6 + 1, "first chunk, the other deltas, the closing events");
        let events = event_types(&chunks);
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds.first(), Some(&"messageStart"));
        assert_eq!(&kinds[kinds.len() - 3..], ["contentBlockStop", "messageStop", "metadata"]);
        let text: String = events
            .iter()
            .filter(|(k, _)| k == "contentBlockDelta")
            .map(|(_, v)| v["delta"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, words.concat());
        let (_, metadata) = events.last().expect("metadata");
        assert_eq!(metadata["usage"]["inputTokens"], 11);
        assert_eq!(metadata["usage"]["outputTokens"], 20);
    }

    #[test]
    fn an_empty_answer_still_streams_a_delta_and_the_end() {
        let kinds: Vec<String> =
            event_types(&converse_stream(&[], 3, 0, "max_tokens")).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"]);
    }
}
