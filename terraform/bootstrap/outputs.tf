# What the environments' backend configuration and the bot's config need.

output "state_bucket" {
  description = "The Terraform state bucket: -backend-config=bucket=..."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "The DynamoDB lock table: -backend-config=dynamodb_table=..."
  value       = aws_dynamodb_table.locks.name
}

output "region" {
  description = "Region of the bucket and the table: -backend-config=region=..."
  value       = var.aws_region
}

output "backend_config" {
  description = "The [environments.<name>.backend_config] table of the bot's config (add key = \"loadtest/<env>.tfstate\")."
  value = {
    bucket         = aws_s3_bucket.state.id
    region         = var.aws_region
    dynamodb_table = aws_dynamodb_table.locks.name
    encrypt        = true
  }
}

output "bot_policy_arn" {
  description = "The bot's managed policy (terraform/bot-iam-policy.json)."
  value       = aws_iam_policy.bot.arn
}

output "bot_role_arn" {
  description = "The bot's role, null when none was asked for."
  value       = local.create_bot_role ? aws_iam_role.bot[0].arn : null
}

output "bot_instance_profile" {
  description = "Instance profile of the bot's role (when ec2.amazonaws.com may assume it), else null."
  value       = local.create_bot_role && local.create_bot_instance_profile ? aws_iam_instance_profile.bot[0].name : null
}

output "bot_user" {
  description = "The bot's IAM user (create its access key with the AWS CLI), null when none was asked for."
  value       = var.create_bot_user ? aws_iam_user.bot[0].name : null
}
