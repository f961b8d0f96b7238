# JMeter master (one instance, optional) and slaves (launch template + autoscaling group with
# desired = min = max = slave_count). The slaves' IPs are not known at plan time: the master
# finds the running slaves of its environment by their tags (AWS CLI, every minute) and writes
# them into remote_hosts.

locals {
  master_role = "jmeter-master"
  slave_role  = "jmeter-slave"
  asg_name    = "${var.name}-jmeter-slaves"

  common_user_data = templatefile("${path.module}/templates/common.sh.tpl", {
    jmeter_version        = var.jmeter_version
    node_exporter_version = var.node_exporter_version
    server_port           = var.rmi_ports.server_port
  })

  master_user_data = templatefile("${path.module}/templates/master.sh.tpl", {
    common           = local.common_user_data
    environment_name = var.environment_name
    region           = var.region
    slave_role       = local.slave_role
    server_port      = var.rmi_ports.server_port
    client_rmi_port  = var.rmi_ports.client_rmi_port
    elastic_version  = var.elastic_version
    elastic_major    = split(".", var.elastic_version)[0]
  })

  master_tags = merge(var.tags, {
    Name            = "${var.name}-jmeter-master"
    "loadtest:role" = local.master_role
  })
  slave_tags = merge(var.tags, {
    Name            = "${var.name}-jmeter-slave"
    "loadtest:role" = local.slave_role
  })

  slave_user_data = templatefile("${path.module}/templates/slave.sh.tpl", {
    common           = local.common_user_data
    environment_name = var.environment_name
    server_port      = var.rmi_ports.server_port
    server_rmi_port  = var.rmi_ports.server_rmi_port
  })

  slave_template_hash = substr(sha1(jsonencode([
    var.ami_id, var.slave_instance_type, var.key_name, var.security_group_ids,
    aws_iam_instance_profile.jmeter.arn, local.slave_user_data, local.slave_tags,
  ])), 0, 10)
}

# --- IAM: the hosts read EC2 (slave discovery) and are reachable through SSM Session Manager --

resource "aws_iam_role" "jmeter" {
  name        = "${var.name}-jmeter"
  description = "JMeter hosts of load-test environment ${var.environment_name}"
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

resource "aws_iam_role_policy" "jmeter" {
  name = "jmeter-host"
  role = aws_iam_role.jmeter.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The master finds the running slaves (and Elasticsearch) by their tags.
        Sid      = "DiscoverHosts"
        Effect   = "Allow"
        Action   = ["ec2:DescribeInstances"]
        Resource = "*"
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

resource "aws_iam_instance_profile" "jmeter" {
  name = "${var.name}-jmeter"
  role = aws_iam_role.jmeter.name
  tags = var.tags
}

# --- master ----------------------------------------------------------------------------------

resource "aws_instance" "master" {
  count = var.master_enabled ? 1 : 0

  ami                    = var.ami_id
  instance_type          = var.master_instance_type
  subnet_id              = var.master_subnet_id
  private_ip             = var.pin_private_ip ? var.master_private_ip : null
  vpc_security_group_ids = var.attach_security_groups ? var.security_group_ids : null
  iam_instance_profile   = aws_iam_instance_profile.jmeter.name
  key_name               = var.key_name
  user_data_base64       = base64encode(local.master_user_data)

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size = var.master_volume_size
    volume_type = "gp3"
    encrypted   = true
  }

  tags        = local.master_tags
  volume_tags = local.master_tags

  # The master must be able to call DescribeInstances from its first boot.
  depends_on = [aws_iam_role_policy.jmeter]

  # No ignore_changes here, unlike the monitoring hosts: the master keeps nothing that must
  # survive (every "off" removes it; results go to Elasticsearch in "full"), so a newer AMI or
  # boot script simply replaces it at the next apply.
}

# --- slaves ----------------------------------------------------------------------------------

# Immutable launch template: any change makes a new template (its name carries a hash of the
# content), the group switches to it and then the old one goes (create_before_destroy). With
# instance_refresh the group then rolls its slaves onto it.
resource "aws_launch_template" "slave" {
  # The content hash in the prefix forces a new template on every change (never a new
  # version; see terraform/README.md); AWS's random suffix keeps the name unique, so going
  # back to an earlier configuration while that template is still deposed (after a failed
  # apply) cannot collide with it.
  name_prefix            = "${var.name}-jmeter-slave-${local.slave_template_hash}-"
  description            = "JMeter slaves of load-test environment ${var.environment_name}"
  image_id               = var.ami_id
  instance_type          = var.slave_instance_type
  key_name               = var.key_name
  vpc_security_group_ids = var.security_group_ids
  user_data              = base64encode(local.slave_user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.jmeter.arn
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.slave_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.slave_tags
  }

  tags = var.tag_launch_template ? var.tags : {}

  lifecycle {
    # The autoscaling group always points at a launch template that exists.
    create_before_destroy = true
  }
}

resource "aws_autoscaling_group" "slaves" {
  name                      = local.asg_name
  vpc_zone_identifier       = var.subnet_ids
  desired_capacity          = var.slave_count
  min_size                  = var.slave_count
  max_size                  = var.slave_count
  health_check_type         = "EC2"
  health_check_grace_period = 120
  wait_for_capacity_timeout = var.wait_for_capacity_timeout

  launch_template {
    id      = aws_launch_template.slave.id
    version = aws_launch_template.slave.latest_version
  }

  dynamic "instance_refresh" {
    for_each = var.instance_refresh ? [1] : []
    content {
      strategy = "Rolling"
      preferences {
        min_healthy_percentage = 50
      }
    }
  }

  # The group carries loadtest:env / loadtest:role and gives them to every slave at launch.
  dynamic "tag" {
    for_each = local.slave_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Slaves launch with the instance profile: its policies must exist before the first launch.
  depends_on = [aws_iam_role_policy.jmeter]
}
