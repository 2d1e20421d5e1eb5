//! Typed configuration from flags and the environment. Defaults make a local run need nothing.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long, env = "TOKENMETER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where users and usage are kept.
    #[arg(long, env = "TOKENMETER_STORE", value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,

    /// Directory of the embedded store's database file.
    #[arg(long, env = "TOKENMETER_DATA_DIR", default_value = ".tokenmeter")]
    pub data_dir: PathBuf,

    /// The admin API key (at least 20 characters), kept only as its hash. Without it, a local
    /// run generates an admin key on first start and prints it once.
    #[arg(long, env = "TOKENMETER_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Other origins whose web pages may call the API, comma-separated (e.g.
    /// `https://app.example.com`). Pages served by the API itself need none.
    #[arg(long, env = "TOKENMETER_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Which model answers: `bedrock`, or `echo` (an offline stand-in that repeats the prompt).
    /// Default: `bedrock` when AWS credentials are configured, else `echo`.
    #[arg(long, env = "TOKENMETER_MODEL_PROVIDER", value_enum)]
    pub model_provider: Option<ProviderKind>,

    /// The model calls go to unless they name another (a Bedrock model ID or inference profile).
    #[arg(long, env = "TOKENMETER_MODEL_ID", default_value = DEFAULT_MODEL_ID)]
    pub model_id: String,

    /// The output cap of a call that asks for none.
    #[arg(long, env = "TOKENMETER_MAX_OUTPUT_TOKENS", default_value_t = 1024)]
    pub max_output_tokens: u32,

    /// Seconds a model call may take before it fails with `model_timeout`.
    #[arg(long, env = "TOKENMETER_MODEL_TIMEOUT_SECS", default_value_t = 120)]
    pub model_timeout_secs: u64,

    /// Seconds a model call's hold lives past its last renewal: the instance running the call
    /// renews it every third of this, so only a crashed instance's holds expire (and are
    /// released by the sweeper).
    #[arg(long, env = "TOKENMETER_HOLD_TTL_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(3..=86_400))]
    pub hold_ttl_secs: u64,

    /// Seconds a streaming call waits for a reader that stopped reading before it is cancelled
    /// (and its hold released, nothing charged).
    #[arg(long, env = "TOKENMETER_STREAM_STALL_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub stream_stall_secs: u64,

    /// Milliseconds a call whose budget is only held by calls in flight waits for them to
    /// settle before it is refused.
    #[arg(long, env = "TOKENMETER_ADMISSION_WAIT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(0..=30_000))]
    pub admission_wait_ms: u64,

    /// Whether a user's calls arriving faster than TOKENMETER_LEASE_MIN_RATE a second (on one
    /// instance, to one model) share a lease: one hold for many calls, settled in batches, so a
    /// hot user's account item is not written per call. `auto`: on with DynamoDB.
    #[arg(long, env = "TOKENMETER_LEASES", value_enum, default_value_t = Leases::Auto)]
    pub leases: Leases,

    /// With leases: the calls per second from which a user's calls share one.
    #[arg(long, env = "TOKENMETER_LEASE_MIN_RATE", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub lease_min_rate: u32,

    /// With leases: milliseconds a lease's settlement waits for more finished calls to join it
    /// (each call answers once its batch is stored: longer batches mean fewer store writes and
    /// later answers).
    #[arg(long, env = "TOKENMETER_LEASE_LINGER_MS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub lease_linger_ms: u64,

    /// A JSON price list replacing the built-in Bedrock prices (see api/src/model/prices.json).
    #[arg(long, env = "TOKENMETER_PRICES")]
    pub prices: Option<PathBuf>,

    /// The tier new users are put on when their creation names none (default: none).
    #[arg(long, env = "TOKENMETER_DEFAULT_TIER")]
    pub default_tier: Option<String>,

    /// Whether anyone may create a guest (`POST /guests`): `on` or `off`.
    #[arg(long, env = "TOKENMETER_GUESTS", value_enum, default_value_t = Switch::Off)]
    pub guests: Switch,

    /// How often every alert rule is evaluated, in seconds.
    #[arg(long, env = "TOKENMETER_ALERT_EVAL_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub alert_eval_secs: u64,

    /// Where alert notifications are POSTed as JSON (none: alerts are only listed).
    #[arg(long, env = "TOKENMETER_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,

    /// The SNS topic alert notifications are published to (none: no SNS).
    #[arg(long, env = "TOKENMETER_ALERT_SNS_TOPIC_ARN")]
    pub alert_sns_topic_arn: Option<String>,

    /// Whether `GET /metrics` answers without a key (`on`: for a private network only).
    #[arg(long, env = "TOKENMETER_METRICS_PUBLIC", value_enum, default_value_t = Switch::Off)]
    pub metrics_public: Switch,

    /// Days usage events and their roll-ups are kept.
    #[arg(long, env = "TOKENMETER_EVENT_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(1..=3_650))]
    pub event_retention_days: u64,

    /// The most connections the server keeps open at once.
    #[arg(long, env = "TOKENMETER_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    pub max_connections: u64,

    /// Seconds a client may take to send a request's headers (from its first byte, or from
    /// connecting); slower connections are closed.
    #[arg(long, env = "TOKENMETER_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,

    /// Seconds a keep-alive connection may stay idle between requests. Behind a load balancer,
    /// keep it longer than the balancer's own idle timeout (60 s on an ALB).
    #[arg(long, env = "TOKENMETER_IDLE_TIMEOUT_SECS", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub idle_timeout_secs: u64,

    /// Seconds a client may take to send a request's body; slower ones get 408.
    #[arg(long, env = "TOKENMETER_BODY_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_timeout_secs: u64,

    /// On SIGTERM or Ctrl-C, seconds the requests in flight may take to finish before their
    /// connections are cut (ECS and Kubernetes wait 30 s before killing).
    #[arg(long, env = "TOKENMETER_DRAIN_SECS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub drain_secs: u64,

    /// What a model call does when the store is unavailable: `fail-closed` answers 503;
    /// `fail-open` lets calls of users this instance admitted before proceed if their last
    /// known state allows it, within TOKENMETER_OUTAGE_ALLOWANCE_TOKENS, keeps their charges in
    /// a local outbox (`<data dir>/outbox.redb`) and replays them when the store is back.
    #[arg(long, env = "TOKENMETER_ON_STORE_OUTAGE", value_enum, default_value_t = OnStoreOutage::FailClosed)]
    pub on_store_outage: OnStoreOutage,

    /// With fail-open: the most tokens this instance lets calls use during outages, until they
    /// are replayed (the bound on the overshoot it can cause).
    #[arg(long, env = "TOKENMETER_OUTAGE_ALLOWANCE_TOKENS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub outage_allowance_tokens: u64,

    /// The DynamoDB table of the `dynamodb` store; created (on-demand capacity) when missing.
    #[arg(long, env = "TOKENMETER_TABLE", default_value = "tokenmeter")]
    pub table: String,

    /// Milliseconds one operation of the `dynamodb` store may take, retries included, before
    /// the request is answered with 503 `store_unavailable`.
    #[arg(long, env = "TOKENMETER_STORE_TIMEOUT_MS", default_value_t = 3_000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub store_timeout_ms: u64,

    /// Directory of the built web app (`cargo xtask build` writes it), served at `/`.
    #[arg(long, env = "TOKENMETER_WEB_DIR", default_value = "webapp/dist")]
    pub web_dir: PathBuf,

    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "TOKENMETER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Set by AWS Lambda: the Runtime API this process answers events from. When present, the
    /// service runs as a Lambda function instead of listening on `TOKENMETER_LISTEN`.
    #[arg(long, env = "AWS_LAMBDA_RUNTIME_API", hide = true)]
    pub lambda_runtime_api: Option<String>,

    /// On AWS Lambda: how answers go back. `buffered` for API Gateway (each answer whole),
    /// `streaming` for a Function URL with `InvokeMode: RESPONSE_STREAM` (event streams and
    /// streamed model answers arrive as they are written).
    #[arg(long, env = "TOKENMETER_LAMBDA_RESPONSE", value_enum, default_value_t = LambdaResponse::Buffered)]
    pub lambda_response: LambdaResponse,
}

/// How a Lambda function answers: see [`Config::lambda_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LambdaResponse {
    /// The whole answer at once, as API Gateway expects.
    Buffered,
    /// The answer as it is written, through a Function URL in `RESPONSE_STREAM` mode.
    Streaming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// An embedded redb database under `TOKENMETER_DATA_DIR`.
    Embedded,
    /// A DynamoDB table (`TOKENMETER_TABLE`), reached through the standard AWS chain
    /// (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL_DYNAMODB`).
    #[value(name = "dynamodb")]
    DynamoDb,
}

/// Claude Sonnet 4.5 through its global cross-region inference profile (priced as the base
/// model: $3 / $15 per million tokens).
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Leases {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// Amazon Bedrock (Converse, ConverseStream, CountTokens).
    Bedrock,
    /// The offline stand-in: answers with the prompt; deterministic token counts.
    Echo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnStoreOutage {
    FailClosed,
    FailOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    pub fn embedded_db_path(&self) -> PathBuf {
        self.data_dir.join("tokenmeter.redb")
    }

    /// The fail-open outbox's file.
    pub fn outbox_path(&self) -> PathBuf {
        self.data_dir.join("outbox.redb")
    }

    /// The model provider: the configured one, else Bedrock when AWS credentials can be
    /// found without touching the network, else the offline echo model.
    pub fn model_provider(&self) -> ProviderKind {
        self.model_provider.unwrap_or(if aws_credentials_configured() {
            ProviderKind::Bedrock
        } else {
            ProviderKind::Echo
        })
    }
}

/// Whether AWS credentials can be found without touching the network: environment variables,
/// a profile file, web identity, a container role, or the Lambda runtime. (The EC2 instance
/// metadata service is never probed at start-up; on EC2 set `TOKENMETER_MODEL_PROVIDER=bedrock`.)
// The one place outside clap that reads the environment: the AWS chain's own variables,
// which decide a default rather than configure the service.
#[allow(clippy::disallowed_methods)]
fn aws_credentials_configured() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let profile_file = |env: &str, default: &str| {
        std::env::var_os(env)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
            .is_some_and(|p| p.is_file())
    };
    (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
        || set("AWS_PROFILE")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || set("AWS_LAMBDA_FUNCTION_NAME")
        || profile_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
        || profile_file("AWS_CONFIG_FILE", ".aws/config")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    /// Flags win over the environment, so these hold whatever `TOKENMETER_*` is set.
    #[test]
    fn out_of_range_and_unknown_values_are_refused_with_the_allowed_ones() {
        let refusal = |args: &[&str]| {
            let args = ["tokenmeter"].iter().chain(args);
            Cli::try_parse_from(args).err().expect("refused").to_string()
        };
        assert!(refusal(&["--store-timeout-ms", "50"]).contains("100..=60000"));
        assert!(refusal(&["--store-timeout-ms", "60001"]).contains("100..=60000"));
        assert!(refusal(&["--store", "postgres"]).contains("[possible values: embedded, dynamodb]"));
        assert!(refusal(&["--listen", "localhost"]).contains("invalid socket address"));
        assert!(refusal(&["--hold-ttl-secs", "1"]).contains("3..=86400"));
        assert!(refusal(&["--guests", "maybe"]).contains("[possible values: on, off]"));
    }
}
