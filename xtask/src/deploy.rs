//! `cargo xtask deploy` and `cargo xtask destroy`: build what a stage needs (the Lambda package,
//! the web app), then run the deploy tool (`xtask/deploy`, crate `tokenmeter-deploy`), which
//! holds the AWS SDK clients so that they build only for these two commands.

use crate::{
    lambda::build_lambda,
    shell::{cargo, project_root, run, step},
    web::{build_webapp, web_dist},
};

/// Where a stage goes: its name, and optionally a region other than the standard chain's.
pub(crate) struct Target<'a> {
    pub stage: &'a str,
    pub region: Option<&'a str>,
}

fn deploy_tool(command: &str, target: &Target<'_>) -> std::process::Command {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "tokenmeter-deploy", "--", command, "--stage", target.stage]);
    if let Some(region) = target.region {
        cmd.args(["--region", region]);
    }
    cmd
}

pub(crate) fn deploy(
    target: &Target<'_>,
    alert_email: Option<&str>,
    no_invocation_logging: bool,
) -> anyhow::Result<()> {
    let zip = build_lambda()?;
    build_webapp()?;
    step(&format!("deploying stage {}", target.stage));
    let root = project_root();
    let mut cmd = deploy_tool("deploy", target);
    cmd.arg("--lambda-zip").arg(&zip).arg("--web-dir").arg(web_dist());
    cmd.arg("--template")
        .arg(root.join("deploy/tokenmeter.yaml"))
        .arg("--openapi")
        .arg(root.join("openapi/openapi.json"));
    if let Some(email) = alert_email {
        cmd.args(["--alert-email", email]);
    }
    if no_invocation_logging {
        cmd.arg("--no-invocation-logging");
    }
    run(&mut cmd)
}

pub(crate) fn destroy(target: &Target<'_>) -> anyhow::Result<()> {
    step(&format!("destroying stage {}", target.stage));
    run(&mut deploy_tool("destroy", target))
}
