//! Server-sent events, read from a byte stream: complete events out, partial ones kept.

/// Splits server-sent events out of `buffer`, leaving an incomplete event in it, and answers
/// the `data` of each complete one.
pub fn take_events(buffer: &mut String) -> Vec<String> {
    let mut events = Vec::new();
    loop {
        let normalized = buffer.replace("\r\n", "\n");
        *buffer = normalized;
        let Some(end) = buffer.find("\n\n") else { break };
        let event: String = buffer.drain(..end + 2).collect();
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:").map(|d| d.strip_prefix(' ').unwrap_or(d)))
            .collect();
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

/// Moves the complete UTF-8 text of `pending` into `buffer`, keeping a character split
/// across chunks for the next one.
pub fn append_utf8(buffer: &mut String, pending: &mut Vec<u8>) {
    match std::str::from_utf8(pending) {
        Ok(text) => buffer.push_str(text),
        Err(err) if err.error_len().is_none() => {
            let valid = err.valid_up_to();
            buffer.push_str(&String::from_utf8_lossy(&pending[..valid]));
            pending.drain(..valid);
            return;
        }
        Err(_) => buffer.push_str(&String::from_utf8_lossy(pending)),
    }
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_survives() {
        let text = "data: {\"userId\": \"zoë\"}\n\n".as_bytes();
        let split = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
        let (mut buffer, mut pending) = (String::new(), text[..split].to_vec());
        append_utf8(&mut buffer, &mut pending);
        assert_eq!(pending.len(), 1);
        pending.extend_from_slice(&text[split..]);
        append_utf8(&mut buffer, &mut pending);
        assert_eq!(take_events(&mut buffer), vec!["{\"userId\": \"zoë\"}".to_owned()]);
    }

    #[test]
    fn events_are_split_at_blank_lines_and_partial_ones_wait() {
        let mut buffer = String::from(": keep-alive\n\ndata: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(take_events(&mut buffer), vec!["{\"a\":1}".to_owned()]);
        assert_eq!(buffer, "data: {\"b\"");
        buffer.push_str(":2}\r\n\r\n");
        assert_eq!(take_events(&mut buffer), vec!["{\"b\":2}".to_owned()]);
        assert!(buffer.is_empty());
    }
}
