# Inputs of the JMeter module (master, slaves, their readiness and lease backstop).

variable "name" {
  description = "Name prefix of every resource (e.g. lt-<environment_name>)."
  type        = string
}

variable "environment_name" {
  description = "Value of the loadtest:env tag."
  type        = string
}

variable "region" {
  description = "AWS region (the master's AWS CLI calls use it)."
  type        = string
}

variable "master_enabled" {
  description = "Whether the JMeter master instance exists."
  type        = bool
}

variable "master_instance_type" {
  description = "EC2 instance type of the JMeter master."
  type        = string
}

variable "slave_count" {
  description = "Number of JMeter slaves: desired = min = max of the autoscaling group."
  type        = number

  validation {
    condition     = var.slave_count >= 0 && floor(var.slave_count) == var.slave_count
    error_message = "The slave_count must be a whole number >= 0."
  }
}

variable "slave_instance_type" {
  description = "EC2 instance type of the JMeter slaves."
  type        = string
}

variable "ami_id" {
  description = "AMI of every JMeter host (x86_64 Amazon Linux 2023, or an image of terraform/images)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the slaves' autoscaling group (two AZs)."
  type        = list(string)
}

variable "master_subnet_id" {
  description = "Subnet of the master."
  type        = string
}

variable "master_private_ip" {
  description = "Fixed private address of the master in master_subnet_id."
  type        = string
}

variable "pin_private_ip" {
  description = "Give the master master_private_ip (false only against moto, which never frees a terminated instance's address)."
  type        = bool
  default     = true
}

variable "security_group_ids" {
  description = "Security groups of the JMeter hosts."
  type        = list(string)
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
  description = "Tags of every resource, the slaves (through the group) and the volumes included. Must include loadtest:env."
  type        = map(string)
  default     = {}
}

variable "tag_launch_template" {
  description = "Tag the launch template itself. The local root turns it off: moto echoes a template's own tags back as an extra tag specification, a perpetual diff."
  type        = bool
  default     = true
}

variable "jmeter_version" {
  description = "Apache JMeter version installed on every JMeter host."
  type        = string
  default     = "5.6.3"
}

variable "node_exporter_version" {
  description = "Prometheus node exporter version installed on every JMeter host."
  type        = string
  default     = "1.8.2"
}

variable "elastic_version" {
  description = "Filebeat version on the master (ships JMeter results to Elasticsearch when one runs); must match Elasticsearch."
  type        = string
  default     = "8.13.4"
}

variable "rmi_ports" {
  description = "Fixed JMeter RMI ports; must match the jmeter security group."
  type = object({
    server_port      = number
    server_rmi_port  = number
    client_rmi_port  = number
    client_rmi_count = number
  })
  default = {
    server_port      = 1099
    server_rmi_port  = 50000
    client_rmi_port  = 60000
    client_rmi_count = 3
  }
}

variable "master_volume_size" {
  description = "Root volume of the master in GiB (test plans, results, reports)."
  type        = number
  default     = 30
}

variable "instance_refresh" {
  description = "Roll the slaves when the launch template changes (instance refresh). The local root turns it off: moto does not implement StartInstanceRefresh."
  type        = bool
  default     = true
}

variable "wait_for_capacity_timeout" {
  description = "How long Terraform waits for the slaves to be InService (\"0\" = do not wait)."
  type        = string
  default     = "10m"
}

variable "bucket_name" {
  description = "The environment's bucket: artifacts, plans, results."
  type        = string
}

variable "ready_parameter_prefix" {
  description = "SSM parameter path prefix of the readiness parameters, ending in '/' (the master writes <prefix>master)."
  type        = string
}

variable "ready_timeout_seconds" {
  description = "How long a slave's boot waits for jmeter-server to listen before abandoning."
  type        = number
  default     = 300
}

variable "hook_timeout_seconds" {
  description = "Heartbeat of the slaves' launch hook: a slave that has not answered by then is abandoned. Covers the installs plus ready_timeout_seconds."
  type        = number
  default     = 1200

  validation {
    condition     = var.hook_timeout_seconds >= 30 && var.hook_timeout_seconds <= 7200
    error_message = "The hook_timeout_seconds must be from 30 to 7200 (AWS's limits for a lifecycle hook heartbeat)."
  }
}

variable "client_tries" {
  description = "JMeter client.tries: how often the master tries to reach each slave before a test."
  type        = number
  default     = 3
}

variable "client_retries_delay_ms" {
  description = "JMeter client.retries_delay in milliseconds between those tries."
  type        = number
  default     = 5000
}

variable "backstop_at" {
  description = "UTC time (YYYY-MM-DDThh:mm:ssZ) when AWS sets the slaves to 0 if the bot has not; empty = none."
  type        = string
  default     = ""
}

variable "artifacts_script" {
  description = "The artifacts module's fetch_script: how the boot scripts install the pinned software set."
  type        = string
}
