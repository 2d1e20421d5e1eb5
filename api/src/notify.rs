//! Where alert notifications go: a webhook (a JSON `POST`) and an SNS topic. The domain decides
//! what to send and retries (`domain::alerts`); these only deliver one notification once.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::domain::{AlertTarget, Notification};

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// A JSON `POST` of the notification to a URL (`TOKENMETER_ALERT_WEBHOOK_URL`); any 2xx answer
/// is a delivery.
pub struct WebhookTarget {
    url: hyper::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl WebhookTarget {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let url: hyper::Uri = url.parse().map_err(|e| anyhow::anyhow!("TOKENMETER_ALERT_WEBHOOK_URL {url}: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme_str(), Some("http" | "https")),
            "TOKENMETER_ALERT_WEBHOOK_URL must be an http:// or https:// URL"
        );
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_native_roots()?.https_or_http().enable_http1().build();
        Ok(Self { url, client: Client::builder(TokioExecutor::new()).build(https) })
    }
}

#[async_trait]
impl AlertTarget for WebhookTarget {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, notification: &Notification) -> Result<(), String> {
        let body = serde_json::to_vec(&notification.to_json()).map_err(|e| e.to_string())?;
        let request = hyper::Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("tokenmeter/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| format!("no answer within {ATTEMPT_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        if answer.status().is_success() { Ok(()) } else { Err(format!("answered {}", answer.status())) }
    }
}

/// A message on an SNS topic (`TOKENMETER_ALERT_SNS_TOPIC_ARN`): the notification's JSON, with
/// a subject naming the alert and its state.
pub struct SnsTarget {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTarget {
    pub fn new(config: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        Self { client: aws_sdk_sns::Client::new(config), topic_arn: topic_arn.to_owned() }
    }
}

#[async_trait]
impl AlertTarget for SnsTarget {
    fn kind(&self) -> &'static str {
        "sns"
    }

    async fn send(&self, notification: &Notification) -> Result<(), String> {
        let subject = format!("tokenmeter alert {} {}", notification.firing.rule, notification.state.as_str());
        let publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject.chars().take(100).collect::<String>())
            .message(notification.to_json().to_string())
            .send();
        tokio::time::timeout(ATTEMPT_TIMEOUT, publish)
            .await
            .map_err(|_| format!("no answer within {ATTEMPT_TIMEOUT:?}"))?
            .map(drop)
            .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(&e).to_string())
    }
}
