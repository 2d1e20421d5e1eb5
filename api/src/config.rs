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

    /// The DynamoDB table of the `dynamodb` store; created (on-demand capacity) when missing.
    #[arg(long, env = "TOKENMETER_TABLE", default_value = "tokenmeter")]
    pub table: String,

    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "TOKENMETER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    pub fn embedded_db_path(&self) -> PathBuf {
        self.data_dir.join("tokenmeter.redb")
    }
}
