//! Whether a variable set fits the account's On-Demand vCPU quota. Every instance of an
//! environment counts against "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z)
//! instances" (Service Quotas `ec2`/`L-1216C47A`), counted in vCPUs per region; an `up` past it
//! fails only at launch, after Terraform waited minutes for capacity. So `check` and the plan
//! of an `up` compare first, and say so; a quota that cannot be read is a note, never a reason
//! to refuse.

use super::{error_text, AwsTarget};
use serde_json::Value;
use std::collections::BTreeMap;

pub const SERVICE_CODE: &str = "ec2";
pub const QUOTA_CODE: &str = "L-1216C47A";

/// vCPUs per instance type, for the types the variable sets and the monitoring defaults use
/// and their neighbours (AWS's published figures). A type not listed is named as unknown.
const VCPUS: &[(&str, u32)] = &[
    ("t3.nano", 2),
    ("t3.micro", 2),
    ("t3.small", 2),
    ("t3.medium", 2),
    ("t3.large", 2),
    ("t3.xlarge", 4),
    ("t3.2xlarge", 8),
    ("c5.large", 2),
    ("c5.xlarge", 4),
    ("c5.2xlarge", 8),
    ("c5.4xlarge", 16),
    ("c5.9xlarge", 36),
    ("c6i.large", 2),
    ("c6i.xlarge", 4),
    ("c6i.2xlarge", 8),
    ("c6i.4xlarge", 16),
    ("m5.large", 2),
    ("m5.xlarge", 4),
    ("m5.2xlarge", 8),
    ("m5.4xlarge", 16),
    ("m6i.large", 2),
    ("m6i.xlarge", 4),
    ("m6i.2xlarge", 8),
    ("r5.large", 2),
    ("r5.xlarge", 4),
];

/// The roots' default instance type per monitoring role (`monitoring_instance_types`).
const MONITORING_DEFAULTS: &[(&str, &str)] = &[
    ("prometheus", "t3.medium"),
    ("grafana", "t3.small"),
    ("elasticsearch", "m5.large"),
    ("kibana", "t3.medium"),
];

pub fn vcpus_of(instance_type: &str) -> Option<u32> {
    VCPUS
        .iter()
        .find(|(name, _)| *name == instance_type)
        .map(|(_, vcpus)| *vcpus)
}

/// What a variable set runs, in vCPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuNeed {
    pub vcpus: u32,
    /// Instance types missing from the table (their vCPUs are not counted).
    pub unknown_types: Vec<String>,
}

/// The vCPUs of a set: the master, the slaves (count × type) and the monitoring hosts of its
/// `monitoring` level at their default types.
pub fn vcpu_need(variables: &BTreeMap<String, Value>) -> VcpuNeed {
    let text = |name: &str| variables.get(name).and_then(Value::as_str).unwrap_or("");
    let mut hosts: Vec<(String, u32)> = Vec::new();
    if variables.get("jmeter_master_enabled") == Some(&Value::Bool(true)) {
        hosts.push((text("jmeter_master_instance_type").to_string(), 1));
    }
    let slaves = match variables.get("jmeter_slave_count") {
        Some(Value::Number(number)) => number.as_u64().unwrap_or(0),
        Some(Value::String(count)) => count.trim().parse().unwrap_or(0),
        _ => 0,
    };
    if slaves > 0 {
        hosts.push((
            text("jmeter_slave_instance_type").to_string(),
            slaves as u32,
        ));
    }
    let roles: &[&str] = match text("monitoring") {
        "basic" => &["prometheus", "grafana"],
        "full" => &["prometheus", "grafana", "elasticsearch", "kibana"],
        _ => &[],
    };
    for (role, instance_type) in MONITORING_DEFAULTS {
        if roles.contains(role) {
            hosts.push((instance_type.to_string(), 1));
        }
    }
    let mut need = VcpuNeed::default();
    for (instance_type, count) in hosts {
        match vcpus_of(&instance_type) {
            Some(vcpus) => need.vcpus += vcpus * count,
            None if !need.unknown_types.contains(&instance_type) => {
                need.unknown_types.push(instance_type)
            }
            None => {}
        }
    }
    need
}

/// Where the quota comes from: Service Quotas, or a figure the environment's config states.
pub trait QuotaSource {
    /// The quota in vCPUs, or why it could not be read.
    fn vcpu_quota(&self) -> impl std::future::Future<Output = Result<f64, String>> + Send;
}

/// Service Quotas' applied value of `L-1216C47A` in the environment's region.
pub struct ServiceQuotas(pub AwsTarget);

impl QuotaSource for ServiceQuotas {
    async fn vcpu_quota(&self) -> Result<f64, String> {
        let config = self.0.sdk_config().await;
        let client = aws_sdk_servicequotas::Client::new(&config);
        let answer = client
            .get_service_quota()
            .service_code(SERVICE_CODE)
            .quota_code(QUOTA_CODE)
            .send()
            .await
            .map_err(|error| error_text(&error))?;
        answer
            .quota()
            .and_then(|quota| quota.value())
            .ok_or_else(|| "Service Quotas returned no value".to_string())
    }
}

/// A quota stated in the config (`[environments.<name>] vcpu_quota`), for a bot that may not
/// read Service Quotas.
pub struct StatedQuota(pub u32);

impl QuotaSource for StatedQuota {
    async fn vcpu_quota(&self) -> Result<f64, String> {
        Ok(f64::from(self.0))
    }
}

/// The verdict on one set: `Some(warning)` when it needs more vCPUs than the quota, or a note
/// when the quota is unknown; `None` when it fits.
pub fn verdict(
    size: &str,
    need: &VcpuNeed,
    quota: &Result<f64, String>,
    region: &str,
) -> Option<String> {
    let unknown = if need.unknown_types.is_empty() {
        String::new()
    } else {
        format!(
            " (not counting {}: vCPUs unknown to the bot)",
            need.unknown_types.join(", ")
        )
    };
    match quota {
        Ok(quota) if f64::from(need.vcpus) > *quota => Some(format!(
            "⚠️ size `{size}` needs {} On-Demand vCPUs{unknown}, but the account's quota in {region} is {quota} ({QUOTA_CODE}, shared by everything running there): the apply would fail at launch. Ask AWS for more (Service Quotas) or use a smaller size",
            need.vcpus
        )),
        Ok(_) => None,
        Err(error) => Some(format!(
            "note: the On-Demand vCPU quota in {region} could not be read ({error}); size `{size}` needs {} vCPUs{unknown}",
            need.vcpus
        )),
    }
}

/// The quota for an environment: the figure its config states, else Service Quotas.
pub async fn quota_for(stated: Option<u32>, target: &AwsTarget) -> Result<f64, String> {
    match stated {
        Some(quota) => StatedQuota(quota).vcpu_quota().await,
        None => ServiceQuotas(target.clone()).vcpu_quota().await,
    }
}

/// `check`'s lines for one environment: a warning per set past the quota, or one note when
/// the quota cannot be read (naming the largest need).
pub fn check_lines(
    env: &str,
    sets: &[(String, VcpuNeed)],
    quota: &Result<f64, String>,
    region: &str,
) -> Vec<String> {
    if quota.is_err() {
        let largest = sets.iter().max_by_key(|(_, need)| need.vcpus);
        return largest
            .and_then(|(size, need)| verdict(size, need, quota, region))
            .map(|note| vec![format!("[{env}] {note}")])
            .unwrap_or_default();
    }
    sets.iter()
        .filter_map(|(size, need)| verdict(size, need, quota, region))
        .map(|warning| format!("[{env}] {warning}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(
        master: Option<&str>,
        slaves: u64,
        slave_type: &str,
        monitoring: &str,
    ) -> BTreeMap<String, Value> {
        let mut vars = BTreeMap::new();
        vars.insert("jmeter_master_enabled".into(), json!(master.is_some()));
        vars.insert(
            "jmeter_master_instance_type".into(),
            json!(master.unwrap_or("t3.small")),
        );
        vars.insert("jmeter_slave_count".into(), json!(slaves));
        vars.insert("jmeter_slave_instance_type".into(), json!(slave_type));
        vars.insert("monitoring".into(), json!(monitoring));
        vars
    }

    #[test]
    fn the_shipped_sizes_need_what_the_readme_says() {
        // terraform/README.md's table: off 0, down 6, small 10, medium 40, large 96.
        assert_eq!(vcpu_need(&set(None, 0, "c5.large", "off")).vcpus, 0);
        assert_eq!(
            vcpu_need(&set(Some("t3.small"), 0, "c5.large", "basic")).vcpus,
            6
        );
        assert_eq!(
            vcpu_need(&set(Some("c5.large"), 2, "c5.large", "basic")).vcpus,
            10
        );
        assert_eq!(
            vcpu_need(&set(Some("c5.xlarge"), 8, "c5.xlarge", "basic")).vcpus,
            40
        );
        assert_eq!(
            vcpu_need(&set(Some("c5.2xlarge"), 20, "c5.xlarge", "full")).vcpus,
            96
        );
    }

    #[test]
    fn unknown_types_are_named_not_guessed() {
        let need = vcpu_need(&set(Some("c5.large"), 3, "c5.humongous", "off"));
        assert_eq!(need.vcpus, 2);
        assert_eq!(need.unknown_types, vec!["c5.humongous".to_string()]);
        let text = verdict("broken", &need, &Ok(1.0), "us-east-1").unwrap();
        assert!(text.contains("not counting c5.humongous"), "{text}");
    }

    #[test]
    fn verdict_names_size_need_and_quota() {
        let need = vcpu_need(&set(Some("c5.2xlarge"), 20, "c5.xlarge", "full"));
        let text = verdict("large", &need, &Ok(32.0), "eu-central-1").unwrap();
        assert!(
            text.contains("size `large` needs 96 On-Demand vCPUs"),
            "{text}"
        );
        assert!(text.contains("quota in eu-central-1 is 32"), "{text}");
        assert_eq!(verdict("large", &need, &Ok(128.0), "eu-central-1"), None);
        let note = verdict("large", &need, &Err("AccessDenied".into()), "eu-central-1").unwrap();
        assert!(
            note.starts_with("note:") && note.contains("AccessDenied"),
            "{note}"
        );
    }

    #[tokio::test]
    async fn a_stated_quota_is_the_source() {
        assert_eq!(StatedQuota(32).vcpu_quota().await, Ok(32.0));
    }

    #[test]
    fn check_warns_per_set_or_notes_once() {
        let sets = vec![
            (
                "small".to_string(),
                vcpu_need(&set(Some("c5.large"), 2, "c5.large", "basic")),
            ),
            (
                "large".to_string(),
                vcpu_need(&set(Some("c5.2xlarge"), 20, "c5.xlarge", "full")),
            ),
        ];
        let lines = check_lines("lt1", &sets, &Ok(32.0), "us-east-1");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("[lt1] ⚠️ size `large` needs 96"),
            "{lines:?}"
        );
        let lines = check_lines("lt1", &sets, &Err("NoSuchResource".into()), "us-east-1");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("size `large` needs 96 vCPUs"),
            "{lines:?}"
        );
        assert!(check_lines("lt1", &sets, &Ok(200.0), "us-east-1").is_empty());
    }
}
