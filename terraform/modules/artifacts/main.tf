# The pinned, checksummed software set every host installs from (JMeter, node_exporter,
# Prometheus), and the shell part of the boot scripts that fetches it: the environment's bucket
# first, the upstream mirrors only when the bucket lacks a file (then the verified file is put in
# the bucket), so that a scale-up or a rebuilt monitoring host never depends on the mirrors.
# terraform/images bakes from the same manifest. No resources: the roots pass the outputs to the
# jmeter and monitoring modules.

locals {
  manifest = jsondecode(file("${path.module}/artifacts.json"))
}

output "manifest" {
  description = "The artifact list: name, version, file, unpacks_to, sha256 or sha512, urls."
  value       = local.manifest
}

output "fetch_script" {
  description = "Bash defining ARTIFACTS, fetch_artifact <name> and artifact_dir <name>; needs ROOT, REGION, BUCKET and say() defined before it."
  value       = templatefile("${path.module}/fetch.sh.tpl", { artifacts = local.manifest })
}
