//! `cargo xtask dev`: the product on one URL, web app and API, on the embedded store, with
//! guests on (anyone may try it without an account).

use crate::{
    shell::{cargo, project_root, run, step},
    web::{build_webapp, web_dist},
};

pub(crate) fn dev(listen: &str) -> anyhow::Result<()> {
    build_webapp()?;
    step(&format!(
        "serving the web app and the API on http://{listen} (docs at http://{listen}/docs), data in .tokenmeter/"
    ));
    run(cargo()
        .args(["run", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--", "serve"])
        .env("TOKENMETER_LISTEN", listen)
        .env("TOKENMETER_WEB_DIR", web_dist())
        .env("TOKENMETER_DATA_DIR", project_root().join(".tokenmeter"))
        .env("TOKENMETER_GUESTS", "on"))
}
