# Variables of a load-test environment. The variable sets in commands/sizes.toml set the first
# five; the bot sets environment_name (and, for the emulator, aws_endpoint).
# terraform/envs/aws/variables.tf declares the same variables: keep the two in step.

variable "jmeter_master_enabled" {
  description = "Whether the JMeter master instance exists."
  type        = bool
  default     = false
}

variable "jmeter_master_instance_type" {
  description = "EC2 instance type of the JMeter master."
  type        = string
  default     = "t3.small"
}

variable "jmeter_slave_count" {
  description = "Number of JMeter slaves (autoscaling group desired = min = max)."
  type        = number
  default     = 0

  validation {
    condition     = var.jmeter_slave_count >= 0 && var.jmeter_slave_count <= 200 && floor(var.jmeter_slave_count) == var.jmeter_slave_count
    error_message = "The jmeter_slave_count must be a whole number from 0 to 200."
  }
}

variable "jmeter_slave_instance_type" {
  description = "EC2 instance type of the JMeter slaves."
  type        = string
  default     = "c5.large"
}

variable "monitoring" {
  description = "\"off\", \"basic\" (Prometheus + Grafana) or \"full\" (basic + Elasticsearch + Kibana)."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "basic", "full"], var.monitoring)
    error_message = "The monitoring must be one of \"off\", \"basic\", \"full\"."
  }
}

variable "environment_name" {
  description = "Name of the load-test environment: the loadtest:env tag and part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment_name))
    error_message = "The environment_name must be 1-32 characters of a-z, 0-9 and '-', starting with a letter (the bot's rule for environment names)."
  }
}

variable "aws_region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "Endpoint of a local AWS emulator (moto), e.g. http://127.0.0.1:4566. Empty = real AWS."
  type        = string
  default     = ""
}

variable "vpc_cidr" {
  description = "CIDR block of the environment's own VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "dashboard_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the dashboard load balancer and Grafana/Kibana. Default: nobody outside the VPC."
  type        = list(string)
  default     = []
}

variable "dashboard_certificate_arn" {
  description = "ACM certificate ARN: the dashboard load balancer listens on HTTPS 443 with it; empty = HTTP 80."
  type        = string
  default     = ""
}

variable "ssh_allowed_cidrs" {
  description = "CIDR blocks allowed to SSH to the instances. Default: none (use SSM Session Manager)."
  type        = list(string)
  default     = []
}

variable "key_name" {
  description = "EC2 key pair name for SSH; null = none."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of every instance; empty = the newest Amazon Linux 2 x86_64 image."
  type        = string
  default     = ""
}

variable "monitoring_instance_types" {
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

variable "pin_private_ips" {
  description = "Give the master and monitoring hosts their fixed private addresses; null = yes on AWS, no against an emulator (moto never frees a terminated instance's address)."
  type        = bool
  default     = null
}

variable "extra_tags" {
  description = "More tags on every resource (cost centre, owner...)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.extra_tags) : length(regexall("^loadtest:", key)) == 0])
    error_message = "The extra_tags may not set loadtest:* tags (the stack sets them)."
  }
}
