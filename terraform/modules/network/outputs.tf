output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "pool_subnet_ids" {
  description = "Two public subnets in two AZs for the slaves' autoscaling group and the load balancer. Known only once they are routed to the internet, so instances that download packages at boot start after the route exists."
  value       = [aws_subnet.this["pool-a"].id, aws_subnet.this["pool-b"].id]
  depends_on  = [aws_route.internet, aws_route_table_association.this]
}

output "hosts_subnet_id" {
  description = "Public subnet of the hosts at fixed addresses (master, monitoring); routed like pool_subnet_ids."
  value       = aws_subnet.this["hosts"].id
  depends_on  = [aws_route.internet, aws_route_table_association.this]
}

output "host_ips" {
  description = "Fixed private address per role in the hosts subnet (known at plan time)."
  value       = local.host_ips
}

output "jmeter_security_group_id" {
  description = "Security group of the JMeter master and slaves."
  value       = aws_security_group.jmeter.id
}

output "monitoring_security_group_id" {
  description = "Security group of the monitoring hosts."
  value       = aws_security_group.monitoring.id
}

output "dashboard_lb_security_group_id" {
  description = "Security group of the dashboard load balancer."
  value       = aws_security_group.dashboard_lb.id
}
