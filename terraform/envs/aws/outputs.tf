# The bot reads these (status, run summaries); terraform/envs/local has the same outputs.

output "jmeter_master_ip" {
  description = "Private IP of the JMeter master (fixed, stable across resizes: reach it over SSM or from inside the VPC); null when it is disabled."
  value       = module.jmeter.master_private_ip
}

output "jmeter_master_instance_id" {
  description = "Instance ID of the JMeter master, where the bot starts tests through SSM Run Command; null when it is disabled."
  value       = module.jmeter.master_instance_id
}

output "jmeter_slave_count" {
  description = "Desired (= min = max) number of JMeter slaves."
  value       = module.jmeter.slave_count
}

output "grafana_url" {
  description = "Grafana behind the dashboard load balancer; null when monitoring is off."
  value       = module.monitoring.grafana_url
}

output "kibana_url" {
  description = "Kibana behind the dashboard load balancer; null unless monitoring is full."
  value       = module.monitoring.kibana_url
}

output "slave_autoscaling_group" {
  description = "Name of the JMeter slaves' autoscaling group."
  value       = module.jmeter.slave_autoscaling_group
}

output "slave_asg_name" {
  description = "The slaves' autoscaling group, whose InService instances are the ready slaves (launch lifecycle hook)."
  value       = module.jmeter.slave_autoscaling_group
}

output "ready_parameter_prefix" {
  description = "SSM parameter prefix of the readiness of the master and monitoring hosts: <prefix><role> = \"ok <UTC time>\" or \"failed: <reason>\"."
  value       = local.ready_parameter_prefix
}

output "ready_roles" {
  description = "Roles whose readiness parameter this size expects (master, prometheus, grafana, elasticsearch, kibana)."
  value       = local.ready_roles
}

output "resolved_ami_id" {
  description = "The AMI the hosts use: ami_id, or the Amazon Linux 2023 image it resolved to (pin it as ami_id)."
  value       = local.ami_id
}

output "results_bucket" {
  description = "The environment's S3 bucket: results/<test id>/, plans/, artifacts/. Kept by down and off."
  value       = module.storage.bucket_name
}

output "lease_backstop_at" {
  description = "When AWS sets the slaves to 0 if the bot has not (lease end + grace), empty when there is no lease."
  value       = module.jmeter.lease_backstop_at
}
