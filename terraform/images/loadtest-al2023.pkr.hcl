# An Amazon Linux 2023 image for the JMeter hosts (master and slaves) with their software already
# installed, for teams who want a scale-up to boot in seconds: Java 17 (Amazon Corretto,
# headless), Apache JMeter and the Prometheus node exporter, from the same pinned, checksummed
# artifacts the boot scripts use (terraform/modules/artifacts/artifacts.json), at the paths the boot
# scripts look for, so a host booted from it skips every download. Pass the AMI id as the
# environment's ami_id (terraform/README.md, "A faster boot: the Packer image").
#
#   packer init .      # Packer >= 1.7: installs the amazon plugin named in plugins.pkr.hcl
#   packer build .     # AWS credentials of the account and region the environments use
#
# Everything else about a host (its role, its configuration, the bucket's scripts) is still done
# by the boot scripts at every boot: the image only saves the downloads and the installs.

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the image is built in (and usable in; copy it to others with aws ec2 copy-image)."
}

variable "instance_type" {
  type        = string
  default     = "c5.large"
  description = "Instance type of the temporary build instance."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the build instance; empty = the default VPC's. It needs outbound internet (dnf, the artifacts' URLs)."
}

variable "artifacts_manifest" {
  type        = string
  default     = "../modules/artifacts/artifacts.json"
  description = "The pinned artifact manifest, relative to the directory packer runs in (terraform/images): a JSON list of {name, version, file, unpacks_to, sha256 or sha512, urls}."
}

variable "artifacts" {
  type        = list(string)
  default     = ["jmeter", "node_exporter"]
  description = "Names in the manifest to install into /opt/<unpacks_to> (what every JMeter host runs)."
}

variable "ami_name_prefix" {
  type        = string
  default     = "loadtest-jmeter-al2023"
  description = "AMI names are <prefix>-<UTC build time>."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "More tags on the AMI and its snapshot (cost centre, owner...)."
}

locals {
  manifest   = jsondecode(file(var.artifacts_manifest))
  versions   = { for artifact in local.manifest : artifact.name => artifact.version }
  build_time = formatdate("YYYYMMDDhhmmss", timestamp())

  image_tags = merge(var.tags, {
    Name                     = "${var.ami_name_prefix}-${local.build_time}"
    "loadtest:image"         = "jmeter-host"
    "loadtest:java"          = "java-17-amazon-corretto-headless"
    "loadtest:jmeter"        = lookup(local.versions, "jmeter", "none")
    "loadtest:node-exporter" = lookup(local.versions, "node_exporter", "none")
    "loadtest:base-ami"      = "{{ .SourceAMI }}"
    "loadtest:built-by"      = "packer"
  })
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id == "" ? null : var.subnet_id
  ssh_username  = "ec2-user"

  ami_name        = "${var.ami_name_prefix}-${local.build_time}"
  ami_description = "loadtest JMeter host: Amazon Linux 2023, Corretto 17, JMeter ${lookup(local.versions, "jmeter", "none")}, node_exporter ${lookup(local.versions, "node_exporter", "none")}"

  # The newest Amazon Linux 2023 (x86_64, standard kernel) from Amazon itself: the image the
  # environments use when the bot passes no ami_id.
  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-kernel-*-x86_64"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000 # gp3's baseline, stated: Packer 1.6 refuses gp3 without them
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  tags          = local.image_tags
  snapshot_tags = local.image_tags
}

build {
  sources = ["source.amazon-ebs.al2023"]

  provisioner "file" {
    source      = var.artifacts_manifest
    destination = "/tmp/artifacts.json"
  }

  provisioner "file" {
    source      = "install-artifacts.sh"
    destination = "/tmp/install-artifacts.sh"
  }

  provisioner "shell" {
    inline = [
      "sudo dnf install -y --setopt=install_weak_deps=False java-17-amazon-corretto-headless",
      "sudo ARTIFACTS_MANIFEST=/tmp/artifacts.json bash /tmp/install-artifacts.sh ${join(" ", var.artifacts)}",
      "sudo rm -f /tmp/artifacts.json /tmp/install-artifacts.sh",
      "sudo dnf clean all",
    ]
  }
}
