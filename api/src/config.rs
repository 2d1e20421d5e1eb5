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

    /// Directory of the built web app (`cargo xtask build` writes it), served at `/`.
    #[arg(long, env = "TOKENMETER_WEB_DIR", default_value = "webapp/dist")]
    pub web_dir: PathBuf,

    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "TOKENMETER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// An embedded redb database under `TOKENMETER_DATA_DIR`.
    Embedded,
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
