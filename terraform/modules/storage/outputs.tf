# What the other modules and the roots need of the bucket.

output "bucket_name" {
  description = "Name of the environment's bucket."
  # Known at plan time (the boot scripts carry it, and must be rendered in the plan), while
  # whoever uses it still waits for the bucket and its objects.
  value      = local.bucket_name
  depends_on = [aws_s3_bucket_public_access_block.env, aws_s3_bucket_object.config]
}

output "bucket_arn" {
  description = "ARN of the environment's bucket."
  value       = aws_s3_bucket.env.arn
}
