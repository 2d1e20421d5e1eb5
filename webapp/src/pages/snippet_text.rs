//! The text of the API snippets: each operation in curl, the Rust client, JavaScript `fetch`
//! and Python `requests`, for a base URL and a user. The key is always read from
//! `TOKENMETER_KEY`, never written into a snippet.

/// A call a snippet shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Invoke,
    InvokeStream,
    StartConversation,
    ListConversations,
    GetUsage,
    UsageReport,
    RecordUsage,
    ChangeLimit,
    DeleteUser,
}

impl Op {
    /// The operations a viewer may call: a user's own, or every one for an administrator.
    pub(super) fn for_viewer(admin: bool) -> Vec<Op> {
        let mut ops = vec![
            Op::Invoke,
            Op::InvokeStream,
            Op::StartConversation,
            Op::ListConversations,
            Op::GetUsage,
            Op::UsageReport,
            Op::RecordUsage,
        ];
        if admin {
            ops.extend([Op::ChangeLimit, Op::DeleteUser]);
        }
        ops
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Op::Invoke => "Invoke the model",
            Op::InvokeStream => "Invoke the model, streaming the answer",
            Op::StartConversation => "Start a kept conversation",
            Op::ListConversations => "List your conversations",
            Op::GetUsage => "Get usage",
            Op::UsageReport => "Usage report, last 24 hours",
            Op::RecordUsage => "Record usage",
            Op::ChangeLimit => "Change the token limit (admin)",
            Op::DeleteUser => "Delete the user (admin)",
        }
    }

    fn method(self) -> &'static str {
        match self {
            Op::Invoke | Op::InvokeStream | Op::StartConversation | Op::RecordUsage => "POST",
            Op::GetUsage | Op::UsageReport | Op::ListConversations => "GET",
            Op::ChangeLimit => "PUT",
            Op::DeleteUser => "DELETE",
        }
    }

    fn path(self, id: &str) -> String {
        match self {
            Op::Invoke => format!("/invoke/{id}"),
            Op::InvokeStream => format!("/invoke/{id}/stream"),
            Op::StartConversation | Op::ListConversations => format!("/users/{id}/conversations"),
            Op::GetUsage | Op::DeleteUser => format!("/users/{id}"),
            Op::RecordUsage => format!("/users/{id}/usage"),
            Op::UsageReport => format!("/reports/usage?hours=24&userId={id}"),
            Op::ChangeLimit => format!("/users/{id}/limit"),
        }
    }

    /// The JSON body, if the call has one.
    fn body(self) -> Option<&'static str> {
        match self {
            Op::Invoke | Op::InvokeStream => Some(r#"{"prompt": "What is AWS Lambda?"}"#),
            Op::StartConversation => Some(r#"{"title": "Trip planning"}"#),
            Op::RecordUsage => Some(r#"{"tokensConsumed": 1234}"#),
            Op::ChangeLimit => Some(r#"{"newLimit": 200000}"#),
            Op::GetUsage | Op::UsageReport | Op::ListConversations | Op::DeleteUser => None,
        }
    }
}

/// A language a snippet is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Curl,
    Rust,
    JavaScript,
    Python,
}

impl Lang {
    pub(super) const ALL: [Lang; 4] = [Lang::Curl, Lang::Rust, Lang::JavaScript, Lang::Python];

    pub(super) fn name(self) -> &'static str {
        match self {
            Lang::Curl => "curl",
            Lang::Rust => "Rust",
            Lang::JavaScript => "JavaScript",
            Lang::Python => "Python",
        }
    }

    /// How the snippets in this language get the key.
    pub(super) fn setup(self, base: &str) -> String {
        match self {
            Lang::Curl => "export TOKENMETER_KEY=…   # your API key".into(),
            Lang::Rust => format!(
                "// Cargo.toml: tokenmeter-client, tokio\nlet key = std::env::var(\"TOKENMETER_KEY\")?;\nlet client = tokenmeter_client::Client::with_api_key(\"{base}\", &key)?;"
            ),
            Lang::JavaScript => format!(
                "// Node 18+ or a browser; keep the key out of your source\nconst BASE = \"{base}\";\nconst headers = {{\n  Authorization: `Bearer ${{process.env.TOKENMETER_KEY}}`,\n  \"Content-Type\": \"application/json\",\n}};"
            ),
            Lang::Python => format!(
                "import os, requests\n\nBASE = \"{base}\"\nheaders = {{\"Authorization\": f\"Bearer {{os.environ['TOKENMETER_KEY']}}\"}}"
            ),
        }
    }
}

/// The snippet of `op` in `lang`, against `base` for user `id`.
pub(super) fn snippet(op: Op, lang: Lang, base: &str, id: &str) -> String {
    match lang {
        Lang::Curl => curl(op, base, id),
        Lang::Rust => rust(op, id),
        Lang::JavaScript => javascript(op, id),
        Lang::Python => python(op, id),
    }
}

fn curl(op: Op, base: &str, id: &str) -> String {
    let mut lines = vec![format!(
        "curl -s{} -X {} \"{base}{}\"",
        if op == Op::InvokeStream { "N" } else { "" },
        op.method(),
        op.path(id)
    )];
    lines.push("  -H \"Authorization: Bearer $TOKENMETER_KEY\"".into());
    if let Some(body) = op.body() {
        lines.push("  -H 'Content-Type: application/json'".into());
        lines.push(format!("  -d '{body}'"));
    }
    lines.join(" \\\n")
}

fn rust(op: Op, id: &str) -> String {
    match op {
        Op::Invoke => format!(
            "use tokenmeter_client::types::InvokeRequest;\n\nlet ask = InvokeRequest {{ prompt: \"What is AWS Lambda?\".into(), history: None, max_output_tokens: None, model: None, system: None, conversation_id: None }};\nlet answer = client.invoke_model(\"{id}\", None, &ask).await?.into_inner();\nprintln!(\"{{}} ({{}} tokens, ${{:.6}})\", answer.response, answer.tokens_consumed, answer.cost.total_cost);"
        ),
        Op::InvokeStream => format!(
            "use futures::StreamExt;\n\n// `ask` as in the call above: server-sent events, `delta`s then `done`\nlet mut events = client.invoke_model_stream(\"{id}\", &ask).await?.into_inner().into_inner();\nwhile let Some(chunk) = events.next().await {{\n    print!(\"{{}}\", String::from_utf8_lossy(&chunk?));\n}}"
        ),
        Op::StartConversation => format!(
            "use tokenmeter_client::types::NewConversation;\n\nlet chat = client.create_conversation(\"{id}\", &NewConversation {{ title: Some(\"Trip planning\".into()) }}).await?.into_inner();\n// Each call with `conversation_id: Some(chat.conversation_id.clone())` keeps its prompt and answer.\nprintln!(\"{{}}\", chat.conversation_id);"
        ),
        Op::ListConversations => format!(
            "for chat in client.list_conversations(\"{id}\").await?.into_inner().conversations {{\n    println!(\"{{}} {{:?}} ({{}} turns)\", chat.conversation_id, chat.title, chat.turn_count);\n}}"
        ),
        Op::GetUsage => format!(
            "let user = client.get_user(\"{id}\").await?.into_inner();\nprintln!(\"{{}} of {{}} tokens used\", user.token_usage, user.token_limit);"
        ),
        Op::UsageReport => format!(
            "use std::num::NonZeroU64;\n\nlet report = client.usage_report(None, NonZeroU64::new(24), None, Some(\"{id}\")).await?.into_inner();\nprintln!(\"{{}} calls, ${{:.6}}, p99 {{:?}} ms; month projected ${{:.2}}\", report.invocations, report.cost, report.latency.p99_ms, report.projection.monthly_cost);"
        ),
        Op::RecordUsage => format!(
            "use tokenmeter_client::types::RecordUsageRequest;\n\n// With input_tokens, output_tokens and model, the record is priced like a model call.\nlet record = RecordUsageRequest {{ tokens_consumed: 1234, input_tokens: None, output_tokens: None, model: None }};\nlet after = client.record_usage(\"{id}\", None, &record).await?.into_inner();\nprintln!(\"{{}} tokens remain\", after.remaining_tokens);"
        ),
        Op::ChangeLimit => format!(
            "use std::num::NonZeroU64;\nuse tokenmeter_client::types::UpdateLimitRequest;\n\nlet new_limit = NonZeroU64::new(200_000).expect(\"positive\");\nclient.update_user_limit(\"{id}\", &UpdateLimitRequest {{ new_limit }}).await?;"
        ),
        Op::DeleteUser => format!("client.delete_user(\"{id}\").await?;"),
    }
}

fn javascript(op: Op, id: &str) -> String {
    let path = op.path(id);
    let body = op.body().map(|b| format!(",\n  body: JSON.stringify({b})")).unwrap_or_default();
    let call = format!(
        "const response = await fetch(`${{BASE}}{path}`, {{\n  method: \"{}\",\n  headers{body},\n}});",
        op.method()
    );
    let after = match op {
        Op::InvokeStream => {
            "// Server-sent events: `delta` events, then `done` with tokens and cost\nconst reader = response.body.pipeThrough(new TextDecoderStream()).getReader();\nfor (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value);"
        }
        Op::Invoke => {
            "const answer = await response.json();\nconsole.log(answer.response, answer.tokensConsumed, answer.cost.totalCost);"
        }
        Op::GetUsage | Op::RecordUsage | Op::ChangeLimit => {
            "const user = await response.json();\nconsole.log(`${user.tokenUsage} of ${user.tokenLimit} tokens used`);"
        }
        Op::DeleteUser => "console.log((await response.json()).message);",
        Op::UsageReport => {
            "const report = await response.json();\nconsole.log(report.invocations, report.cost, report.latency.p99Ms, report.projection.monthlyCost);"
        }
        Op::StartConversation => {
            "// Send `conversationId` with each /invoke call: its prompt and answer are kept\nconst { conversationId } = await response.json();\nconsole.log(conversationId);"
        }
        Op::ListConversations => {
            "for (const c of (await response.json()).conversations) console.log(c.conversationId, c.title, c.turnCount);"
        }
    };
    format!("{call}\nif (!response.ok) throw new Error((await response.json()).message);\n{after}")
}

fn python(op: Op, id: &str) -> String {
    let path = op.path(id);
    let method = op.method().to_lowercase();
    let body = op.body().map(|b| format!(", json={b}")).unwrap_or_default();
    match op {
        Op::InvokeStream => format!(
            "with requests.post(f\"{{BASE}}{path}\", headers=headers{body}, stream=True) as response:\n    response.raise_for_status()\n    for line in response.iter_lines(decode_unicode=True):\n        if line.startswith(\"data:\"):\n            print(line[5:].strip())  # `delta` events, then `done`"
        ),
        Op::Invoke => format!(
            "answer = requests.{method}(f\"{{BASE}}{path}\", headers=headers{body}).json()\nprint(answer[\"response\"], answer[\"tokensConsumed\"], answer[\"cost\"][\"totalCost\"])"
        ),
        Op::UsageReport => format!(
            "response = requests.{method}(f\"{{BASE}}{path}\", headers=headers)\nresponse.raise_for_status()\nreport = response.json()\nprint(report[\"invocations\"], report[\"cost\"], report[\"projection\"][\"monthlyCost\"])"
        ),
        Op::DeleteUser => format!(
            "response = requests.{method}(f\"{{BASE}}{path}\", headers=headers)\nresponse.raise_for_status()\nprint(response.json()[\"message\"])"
        ),
        Op::StartConversation => format!(
            "response = requests.{method}(f\"{{BASE}}{path}\", headers=headers{body})\nresponse.raise_for_status()\n# Send \"conversationId\" with each /invoke call: its prompt and answer are kept\nprint(response.json()[\"conversationId\"])"
        ),
        Op::ListConversations => format!(
            "response = requests.{method}(f\"{{BASE}}{path}\", headers=headers)\nresponse.raise_for_status()\nfor c in response.json()[\"conversations\"]:\n    print(c[\"conversationId\"], c.get(\"title\"), c[\"turnCount\"])"
        ),
        Op::GetUsage | Op::RecordUsage | Op::ChangeLimit => format!(
            "response = requests.{method}(f\"{{BASE}}{path}\", headers=headers{body})\nresponse.raise_for_status()\nuser = response.json()\nprint(user[\"tokenUsage\"], \"of\", user[\"tokenLimit\"], \"tokens used\")"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_get_their_own_calls_and_admins_every_call() {
        assert!(!Op::for_viewer(false).contains(&Op::DeleteUser));
        assert!(!Op::for_viewer(false).contains(&Op::ChangeLimit));
        assert!(Op::for_viewer(true).contains(&Op::DeleteUser));
        assert_eq!(Op::for_viewer(false)[..2], [Op::Invoke, Op::InvokeStream]);
    }

    #[test]
    fn every_snippet_names_the_real_url_and_keeps_the_key_a_placeholder() {
        let base = "https://tokens.example.com";
        for op in Op::for_viewer(true) {
            for lang in Lang::ALL {
                let text = format!("{}\n{}", lang.setup(base), snippet(op, lang, base, "alice"));
                assert!(text.contains("TOKENMETER_KEY"), "{op:?} in {lang:?} reads the key from TOKENMETER_KEY");
                assert!(!text.contains("tmk_"), "{op:?} in {lang:?} shows no key");
                assert!(text.contains("alice"), "{op:?} in {lang:?} names the user");
                if lang != Lang::Rust {
                    assert!(text.contains(base), "{op:?} in {lang:?} names the base URL");
                }
            }
        }
        assert_eq!(
            snippet(Op::RecordUsage, Lang::Curl, base, "alice"),
            "curl -s -X POST \"https://tokens.example.com/users/alice/usage\" \\\n  -H \"Authorization: Bearer $TOKENMETER_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"tokensConsumed\": 1234}'"
        );
        // A query string survives the shell: the URL is quoted.
        let report = snippet(Op::UsageReport, Lang::Curl, base, "alice");
        assert!(report.contains("\"https://tokens.example.com/reports/usage?hours=24&userId=alice\""), "{report}");
    }
}
