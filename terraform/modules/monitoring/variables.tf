# Inputs of the monitoring module.

variable "name" {
  description = "Name prefix of every resource (e.g. lt-<environment_name>); load balancer and target group names use a hash of it when it is longer than 22 characters."
  type        = string
}

variable "environment_name" {
  description = "Value of the loadtest:env tag; Prometheus scrapes the JMeter hosts carrying it."
  type        = string
}

variable "region" {
  description = "AWS region (Prometheus EC2 service discovery)."
  type        = string
}

variable "monitoring" {
  description = "\"off\": nothing; \"basic\": Prometheus + Grafana; \"full\": basic + Elasticsearch + Kibana. A load balancer fronts the dashboards unless off."
  type        = string

  validation {
    condition     = contains(["off", "basic", "full"], var.monitoring)
    error_message = "The monitoring must be one of \"off\", \"basic\", \"full\"."
  }
}

variable "ami_id" {
  description = "AMI of every monitoring host (x86_64 Amazon Linux 2023)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target groups."
  type        = string
}

variable "subnet_ids" {
  description = "Two subnets in two AZs for the load balancer."
  type        = list(string)
}

variable "hosts_subnet_id" {
  description = "Subnet of the monitoring hosts."
  type        = string
}

variable "private_ips" {
  description = "Fixed private address per role in hosts_subnet_id, so every address is known at plan time."
  type = object({
    prometheus    = string
    grafana       = string
    elasticsearch = string
    kibana        = string
  })
}

variable "pin_private_ips" {
  description = "Give each host its private_ips address (false only against moto, which never frees a terminated instance's address)."
  type        = bool
  default     = true
}

variable "security_group_ids" {
  description = "Security groups of the monitoring hosts."
  type        = list(string)
}

variable "lb_security_group_ids" {
  description = "Security groups of the dashboard load balancer."
  type        = list(string)
}

variable "dashboard_certificate_arn" {
  description = "ACM certificate for an HTTPS listener on 443; empty = plain HTTP on 80."
  type        = string
  default     = ""
}

variable "attach_security_groups" {
  description = "Put the instances into security_group_ids at launch. The local root turns it off: moto does not report security groups given through the primary network interface (which the provider always uses) back on the instance, a perpetual diff; there the instances stay in the VPC's default group."
  type        = bool
  default     = true
}

variable "key_name" {
  description = "EC2 key pair for SSH, or null for none (use SSM Session Manager)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource (volumes included). Must include loadtest:env."
  type        = map(string)
  default     = {}
}

variable "instance_types" {
  description = "EC2 instance type per monitoring role."
  type = object({
    prometheus    = string
    grafana       = string
    elasticsearch = string
    kibana        = string
  })
  default = {
    prometheus    = "t3.medium"
    grafana       = "t3.small"
    elasticsearch = "m5.large"
    kibana        = "t3.medium"
  }
}

variable "volume_sizes" {
  description = "Root volume in GiB per monitoring role (Prometheus and Elasticsearch keep their data there)."
  type = object({
    prometheus    = number
    grafana       = number
    elasticsearch = number
    kibana        = number
  })
  default = {
    prometheus    = 50
    grafana       = 10
    elasticsearch = 100
    kibana        = 10
  }
}

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples."
  type        = string
  default     = "30d"
}

variable "grafana_version" {
  description = "Grafana OSS version (rpm.grafana.com)."
  type        = string
  default     = "10.4.5"
}

variable "elastic_version" {
  description = "Elasticsearch and Kibana version (artifacts.elastic.co)."
  type        = string
  default     = "8.13.4"
}

variable "bucket_name" {
  description = "The environment's bucket: the hosts fetch config/ (dashboards, ingest pipeline, data view) from it."
  type        = string
}

variable "ready_parameter_prefix" {
  description = "SSM parameter path prefix of the readiness parameters, ending in '/' (each host writes <prefix><role>)."
  type        = string
}

variable "ready_timeout_seconds" {
  description = "How long a host's boot waits for its service to listen before reporting failed."
  type        = number
  default     = 600
}

variable "jmeter_metrics_port" {
  description = "Port of the JMeter metrics listener on the master and the slaves (Prometheus scrapes it)."
  type        = number
  default     = 9270
}

variable "artifacts_script" {
  description = "The artifacts module's fetch_script: how the boot scripts install the pinned software set."
  type        = string
}
