//! The bot's own AWS reads, next to Terraform's: whether an environment is ready after an
//! apply (readiness parameters, the slaves' group), the account's On-Demand vCPU quota, and
//! the lease backstop Terraform put on the slaves' group. Only reads: every change to AWS
//! goes through a Terraform plan.
//!
//! Where the bot talks to comes from the environment's own Terraform variables, so the bot and
//! Terraform always see the same account and region: `aws_endpoint` (the local emulator; with
//! it, the emulator's fixed test credentials like the Terraform provider uses) and
//! `aws_region`. Without an endpoint, the SDK's default chain finds the credentials.

pub mod backstop;
pub mod load_test;
pub mod quota;
pub mod readiness;

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a Terraform root defaults `aws_region` to when the environment does not set it.
const DEFAULT_REGION: &str = "us-east-1";

/// One call may take this long, retries included: a status or a result never hangs on AWS.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the bot talks to AWS for one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsTarget {
    pub region: String,
    /// The emulator's URL; `None` is real AWS.
    pub endpoint: Option<String>,
}

impl AwsTarget {
    /// From the environment's `tf_vars`, with a `TF_VAR_<name>` in the bot's environment
    /// winning like it does for Terraform (the var file leaves such a variable out).
    pub fn of_tf_vars(tf_vars: &BTreeMap<String, Value>) -> AwsTarget {
        let variable = |name: &str| -> Option<String> {
            let from_env = std::env::var(format!("TF_VAR_{name}")).ok();
            let value = from_env.or_else(|| tf_vars.get(name)?.as_str().map(str::to_string))?;
            let value = value.trim().to_string();
            (!value.is_empty()).then_some(value)
        };
        AwsTarget {
            region: variable("aws_region").unwrap_or_else(|| DEFAULT_REGION.to_string()),
            endpoint: variable("aws_endpoint"),
        }
    }

    /// The SDK configuration: rustls with ring (no second TLS stack), a bounded time per call.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts)
            .region(aws_config::Region::new(self.region.clone()));
        if let Some(endpoint) = &self.endpoint {
            // The emulator accepts any key; these are the ones the Terraform provider uses.
            loader = loader.endpoint_url(endpoint).credentials_provider(
                aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "emulator"),
            );
        }
        loader.load().await
    }
}

/// An SDK error as one line: the service's code and message when it sent them.
pub fn error_text<E, R>(error: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match error.as_service_error() {
        Some(service) => match (service.code(), service.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => service.to_string(),
        },
        None => cause_chain(error),
    }
}

/// The longest a cause chain gets in a message.
const MAX_CAUSE_CHARS: usize = 300;

/// An error and its causes, `: `-joined, repeats left out, cut to [`MAX_CAUSE_CHARS`]: the SDK's
/// own text for a failed dispatch is only `dispatch failure`, the reason (no credentials, a
/// refused connection) is further down.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    let joined = parts.join(": ");
    match joined.char_indices().nth(MAX_CAUSE_CHARS) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|inner| inner as _)
        }
    }

    #[test]
    fn the_reason_below_a_dispatch_failure_is_named_once_and_cut() {
        let inner = Layer("no credentials", None);
        let error = Layer(
            "dispatch failure",
            Some(Box::new(Layer("no credentials", Some(Box::new(inner))))),
        );
        assert_eq!(cause_chain(&error), "dispatch failure: no credentials");
        let long = Layer(Box::leak("x".repeat(400).into_boxed_str()), None);
        let text = cause_chain(&long);
        assert_eq!(text.chars().count(), MAX_CAUSE_CHARS + 1);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn the_target_follows_the_environment_variables() {
        let mut vars = BTreeMap::new();
        vars.insert("aws_region".to_string(), Value::from("eu-central-1"));
        vars.insert("aws_endpoint".to_string(), Value::from(""));
        let target = AwsTarget::of_tf_vars(&vars);
        assert_eq!(target.region, "eu-central-1");
        assert_eq!(target.endpoint, None, "an empty endpoint is real AWS");
    }
}
