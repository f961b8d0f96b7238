# Inputs of the once-per-account bootstrap. Everything has a safe default: a plain
# `terraform apply` creates the state bucket, the lock table and the bot's policy, and no
# principal. The names keep fixed prefixes because terraform/bot-iam-policy.json grants the bot
# access to the state by those prefixes.

variable "aws_region" {
  description = "Region of the state bucket and the lock table (the environments may live in other regions)."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "Endpoint of a local AWS emulator (moto) for tests, e.g. http://127.0.0.1:4566. Empty = real AWS."
  type        = string
  default     = ""
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket; empty = tfstate-loadtest-<account id>. Must start with tfstate-loadtest- (the bot's policy grants state access by that prefix)."
  type        = string
  default     = ""

  validation {
    condition     = var.state_bucket_name == "" || can(regex("^tfstate-loadtest-[a-z0-9][a-z0-9-]{0,45}[a-z0-9]$", var.state_bucket_name))
    error_message = "The state_bucket_name must be empty or start with tfstate-loadtest- followed by lower-case letters, digits and '-' (at most 63 characters in all)."
  }
}

variable "lock_table_name" {
  description = "Name of the DynamoDB table holding Terraform's state locks. Must start with tfstate-loadtest- (the bot's policy grants lock access by that prefix)."
  type        = string
  default     = "tfstate-loadtest-locks"

  validation {
    condition     = can(regex("^tfstate-loadtest-[A-Za-z0-9_.-]{1,200}$", var.lock_table_name))
    error_message = "The lock_table_name must start with tfstate-loadtest- followed by letters, digits, '_', '.' or '-'."
  }
}

variable "noncurrent_state_days" {
  description = "Days an overwritten state version is kept in the versioned bucket before it expires (a bad apply can be undone by restoring one)."
  type        = number
  default     = 90
}

variable "bot_role_trusted_services" {
  description = "AWS services that may assume the bot's role, e.g. [\"ec2.amazonaws.com\"] when the bot runs on an EC2 instance (an instance profile is created then) or [\"ecs-tasks.amazonaws.com\"]. Empty, with bot_role_trusted_arns empty, = no role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for service in var.bot_role_trusted_services : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", service))])
    error_message = "The bot_role_trusted_services must be service principals such as ec2.amazonaws.com."
  }
}

variable "bot_role_trusted_arns" {
  description = "IAM principals (role or user ARNs, or an account ARN arn:aws:iam::<id>:root) that may assume the bot's role, e.g. the role of a Kubernetes service account or of another account. Empty, with bot_role_trusted_services empty, = no role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.bot_role_trusted_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", arn))])
    error_message = "The bot_role_trusted_arns must be IAM ARNs (arn:aws:iam::<account id>:...)."
  }
}

variable "bot_role_name" {
  description = "Name of the bot's role (and instance profile) when one is created. Never lt-*: those are the environments' host roles, which the bot may pass to EC2."
  type        = string
  default     = "loadtest-bot"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.bot_role_name)) && !can(regex("^lt-", var.bot_role_name))
    error_message = "The bot_role_name must be a valid IAM role name that does not start with lt- (the environments' host roles)."
  }
}

variable "create_bot_user" {
  description = "Create an IAM user loadtest-bot with the policy attached, for a bot that runs outside AWS. No access key is created here (it would sit in the state): create one with the AWS CLI."
  type        = bool
  default     = false
}

variable "extra_tags" {
  description = "More tags on every resource (cost centre, owner...)."
  type        = map(string)
  default     = {}
}
