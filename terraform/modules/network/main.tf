# The environment's own network: one VPC with an internet gateway (instances download Java,
# JMeter, Prometheus... at boot; no NAT gateway, which would cost money while the environment is
# off), three public subnets and the security groups of every role:
#   pool-a, pool-b  two AZs, large: the slaves' autoscaling group and the load balancer, whose
#                   addresses AWS picks;
#   hosts           first AZ, small: the master and the monitoring hosts at fixed addresses
#                   (host_ips), which nothing else can take because nothing else launches there.
# Fixed addresses make Grafana's data source, Kibana's Elasticsearch and jmeter_master_ip known
# at plan time and stable across replacements and stop/start.
#
# Everything here is free, so it stays while an environment is "off".

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)

  subnets = {
    pool-a = { cidr = cidrsubnet(var.vpc_cidr, 4, 1), az = local.azs[0] }
    pool-b = { cidr = cidrsubnet(var.vpc_cidr, 4, 2), az = local.azs[1] }
    hosts  = { cidr = cidrsubnet(var.vpc_cidr, 8, 0), az = local.azs[0] }
  }

  # The address plan of the hosts subnet (AWS reserves .0-.3 and the last address).
  host_ips = {
    jmeter-master = cidrhost(local.subnets.hosts.cidr, 10)
    prometheus    = cidrhost(local.subnets.hosts.cidr, 11)
    grafana       = cidrhost(local.subnets.hosts.cidr, 12)
    elasticsearch = cidrhost(local.subnets.hosts.cidr, 13)
    kibana        = cidrhost(local.subnets.hosts.cidr, 14)
  }

  monitoring_ports = {
    Grafana       = 3000
    Kibana        = 5601
    Prometheus    = 9090
    NodeExporter  = 9100
    Elasticsearch = 9200
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, {
    Name = var.name
  })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = var.name
  })
}

resource "aws_subnet" "this" {
  for_each = local.subnets

  vpc_id                  = aws_vpc.this.id
  cidr_block              = each.value.cidr
  availability_zone       = each.value.az
  map_public_ip_on_launch = true

  tags = merge(var.tags, {
    Name = "${var.name}-${each.key}"
  })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = "${var.name}-public"
  })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "this" {
  for_each = local.subnets

  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = aws_route_table.public.id
}

# JMeter master and slaves: RMI and node exporter only from inside the VPC.
resource "aws_security_group" "jmeter" {
  name_prefix = "${var.name}-jmeter-"
  description = "JMeter master and slaves: RMI and node exporter inside the VPC only"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "JMeter RMI registry (server_port)"
    from_port   = var.jmeter_ports.server_port
    to_port     = var.jmeter_ports.server_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  ingress {
    description = "JMeter server.rmi.localport"
    from_port   = var.jmeter_ports.server_rmi_port
    to_port     = var.jmeter_ports.server_rmi_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  ingress {
    description = "JMeter client.rmi.localport range (results back to the master)"
    from_port   = var.jmeter_ports.client_rmi_port
    to_port     = var.jmeter_ports.client_rmi_port + var.jmeter_ports.client_rmi_count - 1
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  ingress {
    description = "Prometheus node exporter"
    from_port   = 9100
    to_port     = 9100
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  dynamic "ingress" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []
    content {
      description = "SSH from the allowed CIDRs"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = var.ssh_allowed_cidrs
    }
  }

  egress {
    description = "Outbound (packages, the system under test)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, {
    Name = "${var.name}-jmeter"
  })

  lifecycle {
    create_before_destroy = true
  }
}

# Dashboard load balancer: only from the allowed CIDRs.
resource "aws_security_group" "dashboard_lb" {
  name_prefix = "${var.name}-dashboard-lb-"
  description = "Dashboard load balancer: only from dashboard_allowed_cidrs"
  vpc_id      = aws_vpc.this.id

  dynamic "ingress" {
    for_each = length(var.dashboard_allowed_cidrs) > 0 ? [1] : []
    content {
      description = "Dashboards from the allowed CIDRs"
      from_port   = var.dashboard_port
      to_port     = var.dashboard_port
      protocol    = "tcp"
      cidr_blocks = var.dashboard_allowed_cidrs
    }
  }

  egress {
    description = "To the dashboards inside the VPC"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr]
  }

  tags = merge(var.tags, {
    Name = "${var.name}-dashboard-lb"
  })

  lifecycle {
    create_before_destroy = true
  }
}

# Prometheus, Grafana, Elasticsearch, Kibana.
resource "aws_security_group" "monitoring" {
  name_prefix = "${var.name}-monitoring-"
  description = "Monitoring hosts: service ports inside the VPC, dashboards from the allowed CIDRs"
  vpc_id      = aws_vpc.this.id

  dynamic "ingress" {
    for_each = local.monitoring_ports
    content {
      description = "${ingress.key} inside the VPC (includes the load balancer)"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = [var.vpc_cidr]
    }
  }

  dynamic "ingress" {
    for_each = length(var.dashboard_allowed_cidrs) > 0 ? [3000, 5601] : []
    content {
      description = ingress.value == 3000 ? "Grafana from the allowed CIDRs" : "Kibana from the allowed CIDRs"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = var.dashboard_allowed_cidrs
    }
  }

  dynamic "ingress" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []
    content {
      description = "SSH from the allowed CIDRs"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = var.ssh_allowed_cidrs
    }
  }

  egress {
    description = "Outbound (packages, EC2 API for service discovery)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, {
    Name = "${var.name}-monitoring"
  })

  lifecycle {
    create_before_destroy = true
  }
}
