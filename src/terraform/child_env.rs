//! The environment Terraform starts with: an allow-list, never the bot's whole environment.
//! Terraform runs providers, `external` data sources and `local-exec` provisioners, any of
//! which can read its environment; the bot's Slack tokens and signing secret must not be
//! there. Pure: the caller passes the variables in and applies the result.

use std::ffi::OsString;

/// Exact names always passed (besides the prefixes below).
const ALLOWED_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Prefixes always passed: AWS credentials and settings (incl. `AWS_CA_BUNDLE`), Terraform's
/// own settings and `TF_VAR_*`, and the locale.
const ALLOWED_PREFIXES: &[&str] = &["AWS_", "TF_", "LC_"];

/// Whether `name` reaches Terraform: on the built-in allow-list or in `passthrough`, and never
/// a `SLACK_*` variable whatever the configuration says.
pub fn is_passed(name: &str, passthrough: &[String]) -> bool {
    if name.to_ascii_uppercase().starts_with("SLACK_") {
        return false;
    }
    ALLOWED_NAMES.contains(&name)
        || ALLOWED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        || passthrough.iter().any(|allowed| allowed == name)
}

/// The variables of `vars` that reach Terraform, in their original order.
pub fn child_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    passthrough: &[String],
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            name.to_str()
                .is_some_and(|name| is_passed(name, passthrough))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(vars: &[(&str, &str)], passthrough: &[&str]) -> Vec<String> {
        let passthrough: Vec<String> = passthrough.iter().map(|s| s.to_string()).collect();
        child_env(
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
            &passthrough,
        )
        .into_iter()
        .map(|(k, _)| k.into_string().unwrap())
        .collect()
    }

    #[test]
    fn only_the_allow_list_and_the_passthrough_reach_terraform() {
        let vars = [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "s"),
            ("SLACK_APP_TOKEN", "xapp-1"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("AWS_CA_BUNDLE", "/ca"),
            ("TF_VAR_aws_endpoint", "http://x"),
            ("TF_CLI_CONFIG_FILE", "/c"),
            ("https_proxy", "http://p"),
            ("NO_PROXY", "localhost"),
            ("LC_ALL", "C.UTF-8"),
            ("DATABASE_PASSWORD", "hunter2"),
            ("GITHUB_TOKEN", "ghp"),
            ("MY_TOOL_HOME", "/opt/tool"),
            ("LOADTEST_STATE_DIR", "/state"),
        ];
        assert_eq!(
            names(&vars, &["MY_TOOL_HOME"]),
            [
                "PATH",
                "HOME",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_CA_BUNDLE",
                "TF_VAR_aws_endpoint",
                "TF_CLI_CONFIG_FILE",
                "https_proxy",
                "NO_PROXY",
                "LC_ALL",
                "MY_TOOL_HOME"
            ]
        );
    }

    #[test]
    fn slack_variables_never_pass_even_when_listed() {
        assert!(!is_passed("SLACK_BOT_TOKEN", &["SLACK_BOT_TOKEN".into()]));
        assert!(!is_passed("slack_bot_token", &["slack_bot_token".into()]));
        assert!(is_passed("FAKE_TF_MODE", &["FAKE_TF_MODE".into()]));
        assert!(!is_passed("FAKE_TF_MODE", &[]));
    }
}
