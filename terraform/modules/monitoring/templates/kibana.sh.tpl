#!/bin/bash
# Kibana of load-test environment ${environment_name}, served under ${base_path} behind the
# dashboard load balancer.
# Rendered by Terraform from terraform/modules/monitoring/templates/kibana.sh.tpl.
set -euo pipefail
exec > >(tee -a /var/log/loadtest-user-data.log) 2>&1
echo "loadtest: kibana boot script starting at $(date -u +%FT%TZ)"

${common}

rpm --import https://artifacts.elastic.co/GPG-KEY-elasticsearch
cat >/etc/yum.repos.d/elastic.repo <<'REPO'
[elastic-${elastic_major}.x]
name=Elastic ${elastic_major}.x packages
baseurl=https://artifacts.elastic.co/packages/${elastic_major}.x/yum
gpgcheck=1
gpgkey=https://artifacts.elastic.co/GPG-KEY-elasticsearch
enabled=1
type=rpm-md
REPO
retry yum install -y 'kibana-${elastic_version}'

cat >/etc/kibana/kibana.yml <<'YAML'
server.host: '0.0.0.0'
server.port: 5601
server.basePath: '${base_path}'
server.rewriteBasePath: true
elasticsearch.hosts: ['${elasticsearch_url}']
logging.appenders.file:
  type: file
  fileName: /var/log/kibana/kibana.log
  layout:
    type: json
logging.root:
  appenders: [default, file]
YAML

systemctl daemon-reload
systemctl enable --now kibana

echo "loadtest: kibana ready"
