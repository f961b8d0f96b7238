# The environment's own S3 bucket: software artifacts (filled once from the upstream mirrors by
# the first host that misses them), test plans, results and the monitoring configuration files
# the hosts pull at boot. It exists in every size: down and off only change instance counts, so
# the bucket and the results in it outlive every host. Versioned (a result overwritten by
# mistake can be restored), encrypted at rest, never public.

data "aws_caller_identity" "current" {}

locals {
  # loadtest-<env>-<account id>: unique per account without a random suffix, so a person at a
  # terminal can guess it; a team may choose its own name (it must start with loadtest- for the
  # bot's IAM policy).
  bucket_name = var.bucket_name != "" ? var.bucket_name : "loadtest-${var.environment_name}-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket" "env" {
  bucket = local.bucket_name
  # Results must survive everything but a deliberate emptying of the bucket.
  force_destroy = false
  tags = merge(var.tags, {
    Name = local.bucket_name
  })

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }
}

resource "aws_s3_bucket_public_access_block" "env" {
  bucket                  = aws_s3_bucket.env.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Files the hosts fetch at boot (dashboards, the ingest pipeline, the data view): too large for
# user data, which EC2 caps at 16 KB.
resource "aws_s3_bucket_object" "config" {
  for_each = var.config_files

  bucket       = aws_s3_bucket.env.id
  key          = "config/${each.key}"
  content      = file(each.value)
  content_type = "application/json"
  etag         = filemd5(each.value)
  tags         = var.tags

  depends_on = [aws_s3_bucket_public_access_block.env]
}
