# Once per AWS account, before the first environment: the S3 bucket and DynamoDB table that hold
# every environment's Terraform state and lock, and the IAM policy the bot (or whoever runs
# terraform/envs/aws) works with. Optionally a role or a user carrying that policy.
#
# The policy document is terraform/bot-iam-policy.json, read here as is: teams who manage IAM
# elsewhere use the same file, so the two cannot drift.

locals {
  emulated = var.aws_endpoint != ""
  endpoint = local.emulated ? var.aws_endpoint : null

  account_id   = data.aws_caller_identity.current.account_id
  state_bucket = var.state_bucket_name != "" ? var.state_bucket_name : "tfstate-loadtest-${local.account_id}"

  tags = merge(var.extra_tags, {
    "loadtest:managed-by" = "terraform"
    "loadtest:component"  = "bootstrap"
  })

  create_bot_role = length(var.bot_role_trusted_services) + length(var.bot_role_trusted_arns) > 0
  # An instance profile only makes sense when EC2 may assume the role.
  create_bot_instance_profile = contains(var.bot_role_trusted_services, "ec2.amazonaws.com")
}

provider "aws" {
  region = var.aws_region

  # With an emulator (tests only): fake credentials, no calls to the metadata service, and
  # every endpoint this root uses pointed at the emulator.
  access_key                  = local.emulated ? "test" : null
  secret_key                  = local.emulated ? "test" : null
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  s3_force_path_style         = local.emulated
  # No EC2 here: skip the provider's start-up probe of the account's EC2 platforms
  # (DescribeAccountAttributes), which against the emulator goes to the real endpoint and
  # retries for half a minute.
  skip_get_ec2_platforms = true

  endpoints {
    dynamodb = local.endpoint
    iam      = local.endpoint
    s3       = local.endpoint
    sts      = local.endpoint
  }
}

data "aws_caller_identity" "current" {}

# --- Terraform state -------------------------------------------------------------------------

resource "aws_s3_bucket" "state" {
  bucket = local.state_bucket
  acl    = "private"
  tags   = merge(local.tags, { Name = local.state_bucket })

  # Every state write keeps the previous version: a broken apply can be rolled back by
  # restoring the object's previous version.
  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        # SSE-S3: no KMS key to pay for or to grant the bot.
        sse_algorithm = "AES256"
      }
    }
  }

  lifecycle_rule {
    id      = "expire-old-state-versions"
    enabled = true

    noncurrent_version_expiration {
      days = var.noncurrent_state_days
    }

    abort_incomplete_multipart_upload_days = 7
  }

  lifecycle {
    # Every environment's state lives here.
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # State holds outputs and resource attributes: never over plain HTTP.
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # S3 refuses a bucket policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.state]
}

resource "aws_dynamodb_table" "locks" {
  name         = var.lock_table_name
  billing_mode = "PAY_PER_REQUEST" # a few requests per run: on-demand costs cents
  hash_key     = "LockID"          # the key Terraform's S3 backend writes

  attribute {
    name = "LockID"
    type = "S"
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = merge(local.tags, { Name = var.lock_table_name })

  lifecycle {
    prevent_destroy = true
  }
}

# --- the bot's permissions -------------------------------------------------------------------

resource "aws_iam_policy" "bot" {
  name        = "loadtest-bot"
  description = "loadtest-bot: run load-test environments (lt-*, loadtest-*, tag loadtest:env) and their Terraform state"
  policy      = file("${path.module}/../bot-iam-policy.json")
}

resource "aws_iam_role" "bot" {
  count = local.create_bot_role ? 1 : 0

  name        = var.bot_role_name
  description = "loadtest-bot (Slack chat-ops for load-test environments)"
  tags        = local.tags

  # Terraform apply of a large environment takes minutes; a run's credentials must outlive it.
  max_session_duration = 3600 * 4

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      length(var.bot_role_trusted_services) > 0 ? [{
        Effect    = "Allow"
        Principal = { Service = var.bot_role_trusted_services }
        Action    = "sts:AssumeRole"
      }] : [],
      length(var.bot_role_trusted_arns) > 0 ? [{
        Effect    = "Allow"
        Principal = { AWS = var.bot_role_trusted_arns }
        Action    = "sts:AssumeRole"
      }] : [],
    )
  })
}

resource "aws_iam_role_policy_attachment" "bot" {
  count = local.create_bot_role ? 1 : 0

  role       = aws_iam_role.bot[0].name
  policy_arn = aws_iam_policy.bot.arn
}

resource "aws_iam_instance_profile" "bot" {
  count = local.create_bot_role && local.create_bot_instance_profile ? 1 : 0

  name = var.bot_role_name
  role = aws_iam_role.bot[0].name
  tags = local.tags
}

resource "aws_iam_user" "bot" {
  count = var.create_bot_user ? 1 : 0

  name = "loadtest-bot"
  tags = local.tags
}

resource "aws_iam_user_policy_attachment" "bot" {
  count = var.create_bot_user ? 1 : 0

  user       = aws_iam_user.bot[0].name
  policy_arn = aws_iam_policy.bot.arn
}
