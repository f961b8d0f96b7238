variable "name" {
  description = "Name prefix of every resource (e.g. lt-<environment_name>)."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (loadtest:env and the caller's extra tags)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the environment's own VPC."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("/(1[6-9]|20)$", var.vpc_cidr))
    error_message = "The vpc_cidr must be an IPv4 CIDR block of /16 to /20 (e.g. 10.42.0.0/16)."
  }
}

variable "dashboard_allowed_cidrs" {
  description = "CIDR blocks that may reach the dashboard load balancer and Grafana/Kibana. Empty = nobody from outside the VPC. Never the whole internet: Kibana has no login."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.dashboard_allowed_cidrs : can(cidrhost(cidr, 0)) && !contains(["0.0.0.0/0", "::/0"], cidr)])
    error_message = "The dashboard_allowed_cidrs must be CIDR blocks, and not 0.0.0.0/0 or ::/0 (Kibana has no login)."
  }
}

variable "ssh_allowed_cidrs" {
  description = "CIDR blocks that may reach port 22 of every instance. Empty = no SSH rule at all (use SSM Session Manager). Never the whole internet."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.ssh_allowed_cidrs : can(cidrhost(cidr, 0)) && !contains(["0.0.0.0/0", "::/0"], cidr)])
    error_message = "The ssh_allowed_cidrs must be CIDR blocks, and not 0.0.0.0/0 or ::/0."
  }
}

variable "dashboard_port" {
  description = "Port the dashboard load balancer listens on (80 for HTTP, 443 for HTTPS)."
  type        = number
  default     = 80
}

variable "jmeter_ports" {
  description = "Fixed JMeter RMI ports opened inside the VPC: registry (server_port), server.rmi.localport and the client's client.rmi.localport range."
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
