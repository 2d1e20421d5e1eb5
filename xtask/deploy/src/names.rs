//! The names of what a stage owns. Everything the template names is derived from the stage,
//! the account and the region, so `destroy` finds it again and two stages never collide.

use std::fmt;

use anyhow::bail;

/// A deployment's name: 1 to 12 lower-case letters, digits or hyphens, starting with a letter
/// (the template's `Stage` parameter allows exactly these; bucket names must stay under 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage(String);

impl Stage {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        let valid = name.len() <= 12
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            bail!(
                "invalid stage `{name}`: use 1 to 12 lower-case letters, digits or hyphens, starting with a letter \
                 (e.g. `dev`, `prod`, `team-a`)"
            );
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The names of one stage in one account and region.
#[derive(Debug, Clone)]
pub struct Names {
    pub stage: Stage,
    pub account: String,
    pub region: String,
    /// `aws`, `aws-cn` or `aws-us-gov`, from the caller's ARN.
    pub partition: String,
}

impl Names {
    pub fn stack(&self) -> String {
        format!("tokenmeter-{}", self.stage)
    }

    /// Holds what the stack is made from: the Lambda package and the HTTP API's document.
    /// Made by `deploy` before the stack (which needs it), removed by `destroy` after.
    pub fn artifacts_bucket(&self) -> String {
        format!("tokenmeter-{}-artifacts-{}-{}", self.stage, self.account, self.region)
    }

    /// The function behind the HTTP API (`ApiFunction` in the template).
    pub fn api_function_arn(&self) -> String {
        format!("arn:{}:lambda:{}:{}:function:tokenmeter-{}-api", self.partition, self.region, self.account, self.stage)
    }

    /// The stack's web bucket, also named in its outputs.
    pub fn web_bucket(&self) -> String {
        format!("tokenmeter-{}-web-{}-{}", self.stage, self.account, self.region)
    }

    /// The bucket of Bedrock's invocation logs, also named in the stack's outputs.
    pub fn invocation_logs_bucket(&self) -> String {
        format!("tokenmeter-{}-logs-{}-{}", self.stage, self.account, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_short_lowercase_names() {
        for good in ["dev", "prod", "team-a", "a", "abcdefghijkl", "x1"] {
            assert!(Stage::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Dev", "1dev", "-dev", "dev_1", "dev.1", "abcdefghijklm", "dév"] {
            let err = Stage::parse(bad).unwrap_err().to_string();
            assert!(err.contains("1 to 12 lower-case letters"), "{bad}: {err}");
        }
    }

    #[test]
    fn bucket_names_fit_s3_in_the_longest_regions() {
        let names = Names {
            stage: Stage::parse("abcdefghijkl").unwrap(),
            account: "123456789012".into(),
            region: "ap-southeast-5".into(),
            partition: "aws".into(),
        };
        for bucket in [names.artifacts_bucket(), names.web_bucket(), names.invocation_logs_bucket()] {
            assert!(bucket.len() <= 63, "{bucket} is {} characters", bucket.len());
        }
    }
}
