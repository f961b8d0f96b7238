# What the other modules and the roots need of the bucket.

output "bucket_name" {
  description = "Name of the environment's bucket."
  value       = aws_s3_bucket.env.id
}

output "bucket_arn" {
  description = "ARN of the environment's bucket."
  value       = aws_s3_bucket.env.arn
}
