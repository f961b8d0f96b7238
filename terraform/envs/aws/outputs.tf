# The bot reads these (status, run summaries); terraform/envs/local has the same outputs.

output "jmeter_master_ip" {
  description = "Private IP of the JMeter master (fixed, stable across resizes: reach it over SSM or from inside the VPC); null when it is disabled."
  value       = module.jmeter.master_private_ip
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
