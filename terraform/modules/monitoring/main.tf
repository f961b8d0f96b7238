# Monitoring of a load-test environment:
#   basic = Prometheus (scrapes the JMeter hosts' node exporters, found by EC2 service discovery
#           on the loadtest:env tag) + Grafana (Prometheus data source provisioned);
#   full  = basic + Elasticsearch + Kibana (the master's Filebeat ships JMeter results);
# and an application load balancer in front of Grafana (/) and Kibana (/kibana) unless "off".
#
# The hosts get fixed private IPs (the network module's address plan), so Grafana's data source
# and Kibana's Elasticsearch address are known at plan time (no DNS zone, no discovery at boot).

locals {
  # Load balancer (<= 32 characters) and target group names (<= 32) from the name prefix;
  # a prefix too long for them is replaced by a hash of it.
  lb_prefix = length(var.name) <= 22 ? var.name : "lt-${substr(sha1(var.name), 0, 10)}"

  basic = var.monitoring != "off"
  full  = var.monitoring == "full"
  https = var.dashboard_certificate_arn != ""

  ip = var.private_ips

  elastic_major = split(".", var.elastic_version)[0]

  common_user_data = templatefile("${path.module}/templates/common.sh.tpl", {
    region        = var.region
    bucket        = var.bucket_name
    ready_prefix  = var.ready_parameter_prefix
    ready_timeout = var.ready_timeout_seconds
  })
  # Only the Prometheus host installs from the artifact set (Grafana and Elastic come as
  # packages from their vendors' signed repositories, pinned by version).

  user_data = {
    prometheus = templatefile("${path.module}/templates/prometheus.sh.tpl", {
      common           = local.common_user_data
      artifacts_script = var.artifacts_script
      environment_name = var.environment_name
      region           = var.region
      retention        = var.prometheus_retention
      metrics_port     = var.jmeter_metrics_port
    })
    grafana = templatefile("${path.module}/templates/grafana.sh.tpl", {
      common           = local.common_user_data
      environment_name = var.environment_name
      grafana_version  = var.grafana_version
      prometheus_url   = "http://${local.ip.prometheus}:9090"
    })
    elasticsearch = templatefile("${path.module}/templates/elasticsearch.sh.tpl", {
      common           = local.common_user_data
      environment_name = var.environment_name
      elastic_version  = var.elastic_version
      elastic_major    = local.elastic_major
    })
    kibana = templatefile("${path.module}/templates/kibana.sh.tpl", {
      common            = local.common_user_data
      environment_name  = var.environment_name
      elastic_version   = var.elastic_version
      elastic_major     = local.elastic_major
      elasticsearch_url = "http://${local.ip.elasticsearch}:9200"
      base_path         = "/kibana"
    })
  }

  enabled = {
    prometheus    = local.basic
    grafana       = local.basic
    elasticsearch = local.full
    kibana        = local.full
  }

  # One entry per host that exists at this monitoring level.
  hosts = { for role, on in local.enabled : role => on if on }
}

# --- IAM: EC2 service discovery for Prometheus, SSM for everyone ------------------------------

resource "aws_iam_role" "monitoring" {
  name        = "${var.name}-monitoring"
  description = "Monitoring hosts of load-test environment ${var.environment_name}"
  tags        = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "monitoring" {
  name = "monitoring-host"
  role = aws_iam_role.monitoring.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Prometheus EC2 service discovery.
        Sid      = "ServiceDiscovery"
        Effect   = "Allow"
        Action   = ["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"]
        Resource = "*"
      },
      {
        # Readiness: each host writes /loadtest/<env>/ready/<role> at the end of its boot.
        Sid      = "ReadinessParameters"
        Effect   = "Allow"
        Action   = ["ssm:PutParameter"]
        Resource = "arn:aws:ssm:${var.region}:*:parameter${var.ready_parameter_prefix}*"
      },
      {
        # Dashboards, the ingest pipeline and the data view, from the environment's bucket.
        Sid      = "EnvironmentBucketConfig"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "arn:aws:s3:::${var.bucket_name}/config/*"
      },
      {
        # The pinned artifact set: read, and filled once by the first host that misses a file.
        Sid      = "EnvironmentBucketArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "arn:aws:s3:::${var.bucket_name}/artifacts/*"
      },
      {
        # SSM Session Manager (the minimal permissions AWS documents), instead of SSH.
        Sid    = "SessionManager"
        Effect = "Allow"
        Action = [
          "ssm:UpdateInstanceInformation",
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
        ]
        Resource = "*"
      },
    ]
  })
}

resource "aws_iam_instance_profile" "monitoring" {
  name = "${var.name}-monitoring"
  role = aws_iam_role.monitoring.name
  tags = var.tags
}

# --- hosts -----------------------------------------------------------------------------------

resource "aws_instance" "this" {
  for_each = local.hosts

  ami                    = var.ami_id
  instance_type          = var.instance_types[each.key]
  subnet_id              = var.hosts_subnet_id
  private_ip             = var.pin_private_ips ? local.ip[each.key] : null
  vpc_security_group_ids = var.attach_security_groups ? var.security_group_ids : null
  iam_instance_profile   = aws_iam_instance_profile.monitoring.name
  key_name               = var.key_name
  # gzip: cloud-init unpacks it, and EC2 caps user data at 16 KB.
  user_data_base64 = base64gzip(local.user_data[each.key])

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size = var.volume_sizes[each.key]
    volume_type = "gp3"
    encrypted   = true
  }

  tags = merge(var.tags, {
    Name            = "${var.name}-${each.key}"
    "loadtest:role" = each.key
  })
  volume_tags = merge(var.tags, {
    Name            = "${var.name}-${each.key}"
    "loadtest:role" = each.key
  })

  # Prometheus discovers targets from its first boot.
  depends_on = [aws_iam_role_policy.monitoring]

  lifecycle {
    # Prometheus and Elasticsearch keep their data on these hosts and Grafana its users and
    # dashboards: a newer AMI or an edited boot script must not replace them as a side effect
    # of a scale command. Replace on purpose with -replace.
    ignore_changes = [ami, user_data_base64]
  }
}

# --- dashboard load balancer -----------------------------------------------------------------

resource "aws_lb" "dashboards" {
  count = local.basic ? 1 : 0

  name                       = "${local.lb_prefix}-dash"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = var.lb_security_group_ids
  subnets                    = var.subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = false # "off" must be able to delete it

  tags = merge(var.tags, {
    Name = "${var.name}-dashboards"
  })
}

resource "aws_lb_target_group" "grafana" {
  count = local.basic ? 1 : 0

  name                 = "${local.lb_prefix}-grafana"
  port                 = 3000
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path    = "/api/health"
    matcher = "200"
  }

  tags = merge(var.tags, {
    Name = "${var.name}-grafana"
  })
}

resource "aws_lb_target_group" "kibana" {
  count = local.full ? 1 : 0

  name                 = "${local.lb_prefix}-kibana"
  port                 = 5601
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path    = "/kibana/api/status"
    matcher = "200"
  }

  tags = merge(var.tags, {
    Name = "${var.name}-kibana"
  })
}

resource "aws_lb_target_group_attachment" "grafana" {
  count = local.basic ? 1 : 0

  target_group_arn = aws_lb_target_group.grafana[0].arn
  target_id        = aws_instance.this["grafana"].id
  port             = 3000
}

resource "aws_lb_target_group_attachment" "kibana" {
  count = local.full ? 1 : 0

  target_group_arn = aws_lb_target_group.kibana[0].arn
  target_id        = aws_instance.this["kibana"].id
  port             = 5601
}

resource "aws_lb_listener" "dashboards" {
  count = local.basic ? 1 : 0

  load_balancer_arn = aws_lb.dashboards[0].arn
  port              = local.https ? 443 : 80
  protocol          = local.https ? "HTTPS" : "HTTP"
  certificate_arn   = local.https ? var.dashboard_certificate_arn : null
  ssl_policy        = local.https ? "ELBSecurityPolicy-TLS-1-2-2017-01" : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.grafana[0].arn
  }
}

resource "aws_lb_listener_rule" "kibana" {
  count = local.full ? 1 : 0

  listener_arn = aws_lb_listener.dashboards[0].arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.kibana[0].arn
  }

  condition {
    path_pattern {
      values = ["/kibana", "/kibana/*"]
    }
  }
}
