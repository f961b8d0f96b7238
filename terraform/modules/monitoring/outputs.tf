# What the roots report of the monitoring hosts.

locals {
  base_url = local.basic ? "${local.https ? "https" : "http"}://${aws_lb.dashboards[0].dns_name}" : null
}

output "grafana_url" {
  description = "Grafana through the load balancer, null when monitoring is off."
  value       = local.basic ? "${local.base_url}/" : null
}

output "kibana_url" {
  description = "Kibana through the load balancer, null unless monitoring is full."
  value       = local.full ? "${local.base_url}/kibana/" : null
}

output "prometheus_url" {
  description = "Prometheus inside the VPC, null when monitoring is off."
  value       = local.basic ? "http://${local.ip.prometheus}:9090" : null
}

output "elasticsearch_url" {
  description = "Elasticsearch inside the VPC, null unless monitoring is full."
  value       = local.full ? "http://${local.ip.elasticsearch}:9200" : null
}

output "instance_ids" {
  description = "Instance ID per running monitoring role."
  value       = { for role, instance in aws_instance.this : role => instance.id }
}
