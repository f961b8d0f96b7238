# Root module of a load-test environment on the local AWS emulator (moto).
# terraform/envs/aws is the same stack on real AWS: keep the module blocks of both in step.
#
# Nothing is written under terraform/: the bot and the tests run
#   TF_DATA_DIR=<state dir>/tf-data terraform init -lockfile=readonly \
#     -backend-config=path=<state dir>/terraform.tfstate
# and keep plans in the state dir too.

terraform {
  required_version = ">= 1.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 3.39"
    }
  }

  # Partial configuration: path (and workspace_dir) come from -backend-config.
  backend "local" {}
}

locals {
  emulated = var.aws_endpoint != ""
  # moto never releases a terminated instance's private IP, so re-creating a host on its fixed
  # address fails ("IP already in use"): against moto, hosts get whatever address it assigns.
  pin_private_ips = var.pin_private_ips == null ? !local.emulated : var.pin_private_ips
  endpoint        = local.emulated ? var.aws_endpoint : null
  name            = "lt-${var.environment_name}"

  # Tags of every resource, set explicitly by the modules rather than by provider default_tags:
  # the modules carry their own tagging (and on moto a tagged launch template is a perpetual
  # diff, so the local root must be able to leave that one resource untagged).
  tags = merge(var.extra_tags, {
    "loadtest:env"        = var.environment_name
    "loadtest:managed-by" = "terraform"
  })
}

provider "aws" {
  region = var.aws_region

  # With an emulator: fake credentials, no calls to STS or the instance metadata service, and
  # every endpoint this stack uses pointed at the emulator.
  access_key                  = local.emulated ? "test" : null
  secret_key                  = local.emulated ? "test" : null
  skip_credentials_validation = local.emulated
  skip_requesting_account_id  = local.emulated
  skip_metadata_api_check     = local.emulated
  s3_force_path_style         = local.emulated

  endpoints {
    autoscaling = local.endpoint
    ec2         = local.endpoint
    elb         = local.endpoint # ELB and ELBv2 (application load balancers)
    iam         = local.endpoint
    s3          = local.endpoint
    ssm         = local.endpoint
    sts         = local.endpoint
  }
}

# Amazon Linux 2023, resolved through AWS's public parameter only when ami_id is empty. The value
# moves with every release: the bot pins it per environment from the resolved_ami_id output, so
# later applies use the same image until an explicit image refresh.
data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  ami_id = var.ami_id != "" ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)

  # Readiness parameters: /loadtest/<env>/ready/<role>, written by each host at the end of its boot.
  ready_parameter_prefix = "/loadtest/${var.environment_name}/ready/"
  ready_roles = concat(
    var.jmeter_master_enabled ? ["master"] : [],
    var.monitoring != "off" ? ["prometheus", "grafana"] : [],
    var.monitoring == "full" ? ["elasticsearch", "kibana"] : [],
  )

  # The lease backstop: lease end + grace, in the form autoscaling schedules take.
  lease_backstop_at = var.lease_ends_at == "" ? "" : formatdate("YYYY-MM-DD'T'hh:mm:ss'Z'", timeadd(var.lease_ends_at, "${var.lease_grace_minutes}m"))
}

module "storage" {
  source = "../../modules/storage"

  environment_name = var.environment_name
  bucket_name      = var.bucket_name
  tags             = local.tags
  config_files = {
    "grafana/loadtest.json"           = "${path.module}/../../modules/monitoring/dashboards/loadtest.json"
    "grafana/hosts.json"              = "${path.module}/../../modules/monitoring/dashboards/hosts.json"
    "elasticsearch/loadtest-jtl.json" = "${path.module}/../../modules/monitoring/elasticsearch/loadtest-jtl-pipeline.json"
    "kibana/data-view.json"           = "${path.module}/../../modules/monitoring/kibana/data-view.json"
  }
}

module "network" {
  source = "../../modules/network"

  name                    = local.name
  tags                    = local.tags
  vpc_cidr                = var.vpc_cidr
  dashboard_allowed_cidrs = var.dashboard_allowed_cidrs
  dashboard_port          = var.dashboard_certificate_arn != "" ? 443 : 80
  ssh_allowed_cidrs       = var.ssh_allowed_cidrs
}

module "artifacts" {
  source = "../../modules/artifacts"
}

module "jmeter" {
  source = "../../modules/jmeter"

  artifacts_script     = module.artifacts.fetch_script
  name                 = local.name
  environment_name     = var.environment_name
  region               = var.aws_region
  master_enabled       = var.jmeter_master_enabled
  master_instance_type = var.jmeter_master_instance_type
  slave_count          = var.jmeter_slave_count
  slave_instance_type  = var.jmeter_slave_instance_type
  ami_id               = local.ami_id
  subnet_ids           = module.network.pool_subnet_ids
  master_subnet_id     = module.network.hosts_subnet_id
  master_private_ip    = module.network.host_ips["jmeter-master"]
  pin_private_ip       = local.pin_private_ips
  security_group_ids   = [module.network.jmeter_security_group_id]
  key_name             = var.key_name
  tags                 = local.tags

  bucket_name            = module.storage.bucket_name
  ready_parameter_prefix = local.ready_parameter_prefix
  backstop_at            = local.lease_backstop_at

  # moto workarounds, only against an emulator (terraform/README.md): StartInstanceRefresh is
  # not implemented; a tagged launch template and an instance's security groups read back
  # differently (perpetual diffs).
  instance_refresh       = !local.emulated
  tag_launch_template    = !local.emulated
  attach_security_groups = !local.emulated
}

module "monitoring" {
  source = "../../modules/monitoring"

  artifacts_script = module.artifacts.fetch_script
  name             = local.name
  environment_name = var.environment_name
  region           = var.aws_region
  monitoring       = var.monitoring
  ami_id           = local.ami_id
  vpc_id           = module.network.vpc_id
  subnet_ids       = module.network.pool_subnet_ids
  hosts_subnet_id  = module.network.hosts_subnet_id
  private_ips = {
    prometheus    = module.network.host_ips.prometheus
    grafana       = module.network.host_ips.grafana
    elasticsearch = module.network.host_ips.elasticsearch
    kibana        = module.network.host_ips.kibana
  }
  pin_private_ips           = local.pin_private_ips
  security_group_ids        = [module.network.monitoring_security_group_id]
  lb_security_group_ids     = [module.network.dashboard_lb_security_group_id]
  dashboard_certificate_arn = var.dashboard_certificate_arn
  instance_types            = var.monitoring_instance_types
  key_name                  = var.key_name
  tags                      = local.tags
  bucket_name               = module.storage.bucket_name
  ready_parameter_prefix    = local.ready_parameter_prefix

  # moto workaround, only against an emulator (terraform/README.md): an instance's security
  # groups read back empty.
  attach_security_groups = !local.emulated
}
