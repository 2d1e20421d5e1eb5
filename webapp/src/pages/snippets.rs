use sycamore::prelude::*;

use crate::{
    api,
    app::Session,
    ui::{Alert, Button, Card, CardBody, CardHeader, Size, Toasts, Tone, Variant},
};

/// A user's API snippets: curl and the Rust client, with this service's real base URL.
/// The key is shown as `$TOKENMETER_KEY`, never the signed-in key itself.
#[component(inline_props)]
pub fn Snippets(id: String) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let base = api::base_url();
    let admin_only = "# needs an admin key";
    let own = if auth.is_admin() { "# an admin key, or the user's own key" } else { "# your API key" };
    let snippets: Vec<(&'static str, String)> = vec![
        (
            "Get usage",
            format!(
                "export TOKENMETER_KEY=tmk_…  {own}\n\ncurl -s {base}/users/{id} \\\n  -H \"Authorization: Bearer $TOKENMETER_KEY\""
            ),
        ),
        (
            "Record usage",
            format!(
                "curl -s -X POST {base}/users/{id}/usage \\\n  -H \"Authorization: Bearer $TOKENMETER_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"tokensConsumed\": 1234}}'"
            ),
        ),
        (
            "Follow usage live (server-sent events)",
            format!("curl -sN {base}/users/{id}/events \\\n  -H \"Authorization: Bearer $TOKENMETER_KEY\""),
        ),
        (
            "Update the token limit",
            format!(
                "{admin_only}\ncurl -s -X PUT {base}/users/{id}/limit \\\n  -H \"Authorization: Bearer $TOKENMETER_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"newLimit\": 200000}}'"
            ),
        ),
        (
            "Rust (tokenmeter-client)",
            format!(
                "use tokenmeter_client::{{Client, types::RecordUsageRequest}};\n\n\
                 let key = std::env::var(\"TOKENMETER_KEY\")?;\n\
                 let client = Client::with_api_key(\"{base}\", &key)?;\n\n\
                 let user = client.get_user(\"{id}\").await?.into_inner();\n\
                 println!(\"{{}} of {{}} tokens used\", user.token_usage, user.token_limit);\n\n\
                 let after = client\n    .record_usage(\"{id}\", &RecordUsageRequest {{ tokens_consumed: 1234 }})\n    .await?\n    .into_inner();\n\
                 println!(\"{{}} tokens remain\", after.remaining_tokens);"
            ),
        ),
    ];
    let toasts = use_context::<Toasts>();
    let blocks = snippets
        .into_iter()
        .enumerate()
        .map(|(i, (title, code))| {
            let copy = code.clone();
            let heading = format!("snippet-{i}");
            let labelled_by = heading.clone();
            view! {
                div(class="snippet") {
                    div(class="snippet-head") {
                        h3(id=heading) { (title) }
                        Button(variant=Variant::Bordered, size=Size::Small, on_click=move || {
                            let copied = web_sys::window().map(|w| w.navigator().clipboard().write_text(&copy));
                            match copied {
                                Some(_) => toasts.success("Copied to the clipboard."),
                                None => toasts.error("The clipboard is not available here; select the text instead."),
                            }
                        }) { "Copy" }
                    }
                    pre(class="code", aria-labelledby=labelled_by, tabindex="0", data-testid="snippet") { (code) }
                }
            }
        })
        .collect::<Vec<View>>();
    let back = if auth.is_admin() { format!("/admin/users/{id}") } else { "/dashboard".into() };
    view! {
        div { a(href=back) { "← Back" } }
        Card {
            CardHeader {
                div {
                    h1 { "API snippets for " (id.clone()) }
                    p(class="subtitle") { "Call this service from a shell or from Rust. Base URL: " code(data-testid="base-url") { (base.clone()) } }
                }
            }
            CardBody {
                div(class="stack") {
                    Alert(tone=Tone::Primary, title="Keys are never shown here.".to_string(),
                          message=" Set TOKENMETER_KEY to your key first; send it as Authorization: Bearer <key> or X-API-Key: <key>.".to_string())
                    (blocks)
                }
            }
        }
    }
}
