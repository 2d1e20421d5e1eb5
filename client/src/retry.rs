//! The client's one piece of transport policy (the requests themselves are all generated):
//! every call that takes an `Idempotency-Key` gets one when the caller sent none, and a call
//! answered 503 (the service's store or model was unavailable) is sent again, with the same
//! key, as is one that failed in transit, so it is applied at most once however many times it is
//! sent.

use std::sync::atomic::{AtomicU64, Ordering};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};

use crate::Client;

/// The operations that take an `Idempotency-Key` (snake case, as progenitor names them).
const IDEMPOTENT: &[&str] = &["create_user", "record_usage", "invoke_model"];
/// Sends after the first, and the pause before each.
const RETRY_PAUSES_MS: [u64; 3] = [200, 600, 1_500];
const HEADER: &str = "idempotency-key";

/// A key no other request of any client uses: a process-wide counter and random bits.
fn fresh_key() -> String {
    static SENT: AtomicU64 = AtomicU64::new(0);
    let count = SENT.fetch_add(1, Ordering::Relaxed);
    format!("tmc-{:016x}{:016x}-{count}", random(), random())
}

#[cfg(not(target_arch = "wasm32"))]
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Seeded by the OS for each `RandomState`.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

#[cfg(target_arch = "wasm32")]
fn random() -> u64 {
    let half = || (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (half() << 32) | half()
}

#[cfg(not(target_arch = "wasm32"))]
async fn pause(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

#[cfg(target_arch = "wasm32")]
async fn pause(ms: u64) {
    let wait = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into()).expect("a timer");
        let set_timeout: js_sys::Function = set_timeout.into();
        let _ = set_timeout.call2(&wasm_bindgen_futures::wasm_bindgen::JsValue::NULL, &resolve, &(ms as f64).into());
    });
    let _ = wasm_bindgen_futures::JsFuture::from(wait).await;
}

impl ClientHooks for Client {
    async fn exec(&self, mut request: reqwest::Request, info: &OperationInfo) -> reqwest::Result<reqwest::Response> {
        if !IDEMPOTENT.contains(&info.operation_id) {
            return self.client().execute(request).await;
        }
        if !request.headers().contains_key(HEADER) {
            let key = reqwest::header::HeaderValue::from_str(&fresh_key()).expect("a key of visible ASCII");
            request.headers_mut().insert(HEADER, key);
        }
        for pause_ms in RETRY_PAUSES_MS {
            let Some(again) = request.try_clone() else { break };
            let answer = self.client().execute(request).await;
            let unavailable = match &answer {
                Ok(response) => response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE,
                // The request may or may not have arrived: with its key, sending it again is safe.
                Err(err) => may_not_have_arrived(err),
            };
            if !unavailable {
                return answer;
            }
            pause(pause_ms).await;
            request = again;
        }
        self.client().execute(request).await
    }
}

/// Whether a failed send may not have reached the service (so sending it again, with its key,
/// is safe). The browser's fetch cannot tell a refused connection apart: there, a failed
/// request counts.
fn may_not_have_arrived(err: &reqwest::Error) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    let connect = err.is_connect();
    #[cfg(target_arch = "wasm32")]
    let connect = false;
    connect || err.is_timeout() || err.is_request()
}
