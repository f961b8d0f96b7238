# JMeter master (one instance, optional) and slaves (launch template + autoscaling group with
# desired = min = max = slave_count). The slaves' IPs are not known at plan time: the master
# finds the running slaves of its environment by their tags (AWS CLI, every minute) and writes
# them into remote_hosts.

locals {
  master_role    = "jmeter-master"
  slave_role     = "jmeter-slave"
  asg_name       = "${var.name}-jmeter-slaves"
  lifecycle_hook = "loadtest-ready"

  common_user_data = templatefile("${path.module}/templates/common.sh.tpl", {
    artifacts_script        = var.artifacts_script
    environment_name        = var.environment_name
    region                  = var.region
    bucket                  = var.bucket_name
    ready_prefix            = var.ready_parameter_prefix
    ready_timeout           = var.ready_timeout_seconds
    asg_name                = local.asg_name
    server_port             = var.rmi_ports.server_port
    client_rmi_port         = var.rmi_ports.client_rmi_port
    client_tries            = var.client_tries
    client_retries_delay_ms = var.client_retries_delay_ms
    loadtest_jmeter         = file("${path.module}/files/loadtest-jmeter")
    loadtest_sync_plans     = file("${path.module}/files/loadtest-sync-plans")
  })

  master_user_data = templatefile("${path.module}/templates/master.sh.tpl", {
    common                = local.common_user_data
    environment_name      = var.environment_name
    ready_prefix          = var.ready_parameter_prefix
    elastic_version       = var.elastic_version
    elastic_major         = split(".", var.elastic_version)[0]
    loadtest_refresh      = file("${path.module}/files/loadtest-refresh")
    loadtest_run          = file("${path.module}/files/loadtest-run")
    loadtest_stop         = file("${path.module}/files/loadtest-stop")
    loadtest_jtl_exporter = file("${path.module}/files/loadtest-jtl-exporter")
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
    asg_name         = local.asg_name
    lifecycle_hook   = local.lifecycle_hook
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
        # SSM Session Manager and Run Command (the bot starts tests on the master, the master
        # syncs plans on the slaves): the agent's minimal permissions, instead of SSH.
        Sid    = "SsmAgent"
        Effect = "Allow"
        Action = [
          "ssm:UpdateInstanceInformation",
          "ssm:ListInstanceAssociations",
          "ssm:DescribeInstanceProperties",
          "ssm:GetDocument",
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
          "ec2messages:AcknowledgeMessage",
          "ec2messages:DeleteMessage",
          "ec2messages:FailMessage",
          "ec2messages:GetEndpoint",
          "ec2messages:GetMessages",
          "ec2messages:SendReply",
        ]
        Resource = "*"
      },
      {
        # Readiness: the slaves complete their launch hook, the master lists InService slaves.
        Sid      = "SlaveGroupReadiness"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:DescribeAutoScalingGroups"]
        Resource = "*"
      },
      {
        # A slave tags itself loadtest:ready / loadtest:ready-error; only this environment's
        # instances can be tagged.
        Sid      = "TagOwnInstances"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags"]
        Resource = "arn:aws:ec2:${var.region}:*:instance/*"
        Condition = {
          StringEquals = { "ec2:ResourceTag/loadtest:env" = var.environment_name }
        }
      },
      {
        # The master's readiness parameter.
        Sid      = "ReadinessParameters"
        Effect   = "Allow"
        Action   = ["ssm:PutParameter"]
        Resource = "arn:aws:ssm:${var.region}:*:parameter${var.ready_parameter_prefix}*"
      },
      {
        # The master syncs plans on this environment's slaves before a test.
        Sid      = "SyncPlansOnSlaves"
        Effect   = "Allow"
        Action   = ["ssm:SendCommand"]
        Resource = "arn:aws:ec2:${var.region}:*:instance/*"
        Condition = {
          StringEquals = {
            "ssm:resourceTag/loadtest:env"  = var.environment_name
            "ssm:resourceTag/loadtest:role" = local.slave_role
          }
        }
      },
      {
        Sid      = "RunShellScript"
        Effect   = "Allow"
        Action   = ["ssm:SendCommand", "ssm:GetCommandInvocation"]
        Resource = ["arn:aws:ssm:${var.region}::document/AWS-RunShellScript", "*"]
      },
      {
        # The environment's bucket: artifacts (read, and filled once), plans, results.
        Sid      = "EnvironmentBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject"]
        Resource = ["arn:aws:s3:::${var.bucket_name}", "arn:aws:s3:::${var.bucket_name}/*"]
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
  # gzip: cloud-init unpacks it, and EC2 caps user data at 16 KB.
  user_data_base64 = base64gzip(local.master_user_data)

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

  lifecycle {
    # A newer AMI (the Amazon Linux parameter moves with every release) or an edited boot script
    # must not replace the master, and with it the plans and results of its tests, as a side
    # effect of a scale command. Replace it on purpose with -replace.
    ignore_changes = [ami, user_data, user_data_base64]
  }
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
  user_data              = base64gzip(local.slave_user_data)

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

  # Readiness from the group's very first launch: a hook added after the group exists would
  # let the first slaves go InService unready. aws_autoscaling_lifecycle_hook.ready below keeps
  # the same hook managed afterwards.
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = var.hook_timeout_seconds
  }

  # Slaves launch with the instance profile: its policies must exist before the first launch.
  depends_on = [aws_iam_role_policy.jmeter]
}

# A slave stays Pending:Wait until its boot script completes this hook (CONTINUE once
# jmeter-server listens); without an answer within the heartbeat it is abandoned (replaced).
resource "aws_autoscaling_lifecycle_hook" "ready" {
  name                   = local.lifecycle_hook
  autoscaling_group_name = aws_autoscaling_group.slaves.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_LAUNCHING"
  default_result         = "ABANDON"
  heartbeat_timeout      = var.hook_timeout_seconds

  lifecycle {
    # The hook notifies nobody (the slave answers it itself). moto reports a made-up queue and
    # role on every hook, a perpetual diff; on AWS nothing else sets them.
    ignore_changes = [notification_target_arn, role_arn]
  }
}

# The lease backstop: if the bot is not there to scale down when a lease ends, AWS itself sets
# the slaves (the biggest cost) to zero at lease end + grace. Present only while a lease runs.
resource "aws_autoscaling_schedule" "lease_backstop" {
  count = var.backstop_at != "" ? 1 : 0

  scheduled_action_name  = "loadtest-lease-backstop"
  autoscaling_group_name = aws_autoscaling_group.slaves.name
  start_time             = var.backstop_at
  min_size               = 0
  max_size               = 0
  desired_capacity       = 0
}
