# Variables of a load-test environment. The variable sets in commands/sizes.toml set the first
# five; the bot sets environment_name (and, for the emulator, aws_endpoint).
# terraform/envs/local/variables.tf declares the same variables: keep the two in step.

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

  # Terraform 1.0 hands a validation the raw string of a command-line -var, so the comparison
  # converts explicitly: `-var=jmeter_slave_count=3` typed by hand must pass like the bot's file.
  validation {
    condition     = try(tonumber(var.jmeter_slave_count) >= 0 && tonumber(var.jmeter_slave_count) <= 200 && floor(tonumber(var.jmeter_slave_count)) == tonumber(var.jmeter_slave_count), false)
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
  description = "Declared so that every root takes the same variables; this root talks to real AWS only and refuses an emulator endpoint (use terraform/envs/local)."
  type        = string
  default     = ""

  validation {
    condition     = var.aws_endpoint == ""
    error_message = "The aws root talks to real AWS only: aws_endpoint must be empty (unset TF_VAR_aws_endpoint, or use terraform/envs/local for the emulator)."
  }
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
  description = "AMI of every instance; empty = the current Amazon Linux 2023 x86_64 image (public SSM parameter), reported as resolved_ami_id so that it can be pinned here."
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

variable "bucket_name" {
  description = "The environment's S3 bucket (results, artifacts, plans); empty = loadtest-<environment_name>-<account id>. Must start with loadtest- (the bot's IAM policy)."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^loadtest-[a-z0-9][a-z0-9.-]{1,52}$", var.bucket_name))
    error_message = "The bucket_name must be empty or a bucket name starting with loadtest- (at most 63 characters of a-z, 0-9, '.', '-')."
  }
}

variable "lease_ends_at" {
  description = "End of the environment's lease, RFC 3339 UTC (e.g. 2026-05-01T18:00:00Z); empty = no lease. With one, AWS itself sets the slaves to 0 at lease end + lease_grace_minutes in case the bot is not there to."
  type        = string
  default     = ""

  validation {
    condition     = var.lease_ends_at == "" || (can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", var.lease_ends_at)) && can(timeadd(var.lease_ends_at, "0s")))
    error_message = "The lease_ends_at must be empty or an RFC 3339 UTC time like 2026-05-01T18:00:00Z."
  }
}

variable "lease_grace_minutes" {
  description = "Minutes after lease_ends_at before the backstop sets the slaves to 0 (the bot's own scale-down normally comes first)."
  type        = number
  default     = 60

  # As for jmeter_slave_count: a command-line -var arrives here as a string on Terraform 1.0.
  validation {
    condition     = try(tonumber(var.lease_grace_minutes) >= 0 && tonumber(var.lease_grace_minutes) <= 10080 && floor(tonumber(var.lease_grace_minutes)) == tonumber(var.lease_grace_minutes), false)
    error_message = "The lease_grace_minutes must be a whole number of minutes from 0 to 10080 (a week)."
  }
}
