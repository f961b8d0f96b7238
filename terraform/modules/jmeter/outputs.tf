# What the roots report of the JMeter hosts.

output "master_private_ip" {
  description = "Private IP of the JMeter master (fixed), null when it is disabled."
  value       = var.master_enabled ? aws_instance.master[0].private_ip : null
}

output "master_public_ip" {
  description = "Public IP of the JMeter master, null when it is disabled or has none. It changes with every stop/start (a resize), and Terraform's copy is stale until the next refresh."
  value       = var.master_enabled ? (aws_instance.master[0].public_ip != "" ? aws_instance.master[0].public_ip : null) : null
}

output "master_instance_id" {
  description = "Instance ID of the JMeter master, null when it is disabled."
  value       = var.master_enabled ? aws_instance.master[0].id : null
}

output "slave_autoscaling_group" {
  description = "Name of the slaves' autoscaling group."
  value       = aws_autoscaling_group.slaves.name
}

output "slave_count" {
  description = "Desired (= min = max) number of slaves."
  value       = aws_autoscaling_group.slaves.desired_capacity
}

output "lifecycle_hook_name" {
  description = "Name of the slaves' launch lifecycle hook."
  value       = aws_autoscaling_lifecycle_hook.ready.name
}

output "lease_backstop_at" {
  description = "When the backstop sets the slaves to 0, empty when there is none."
  value       = var.backstop_at != "" ? aws_autoscaling_schedule.lease_backstop[0].start_time : ""
}
