#!/bin/bash
# Kibana of load-test environment ${environment_name}, served under ${base_path} behind the
# dashboard load balancer.
# Rendered by Terraform from terraform/modules/monitoring/templates/kibana.sh.tpl.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: kibana boot script starting at $(date -u +%FT%TZ)"

${common}
trap 'rc=$?; boot_failed kibana "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

rpm --import https://artifacts.elastic.co/GPG-KEY-elasticsearch
put_file 0644 /etc/yum.repos.d/elastic.repo <<'REPO'
[elastic-${elastic_major}.x]
name=Elastic ${elastic_major}.x packages
baseurl=https://artifacts.elastic.co/packages/${elastic_major}.x/yum
gpgcheck=1
gpgkey=https://artifacts.elastic.co/GPG-KEY-elasticsearch
enabled=1
type=rpm-md
REPO
retry dnf install -y 'kibana-${elastic_version}'

put_file 0644 /etc/kibana/kibana.yml <<'YAML'
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

# The loadtest-* data view, from the environment's bucket (the saved objects import API wants
# an .ndjson file name).
wait_listening 5601
retry aws s3 cp --region "$REGION" --only-show-errors "s3://$BUCKET/config/kibana/data-view.json" \
  "$ROOT/etc/kibana/loadtest-data-view.json"
retry curl -fsS --max-time 30 -X POST -H 'kbn-xsrf: true' \
  -F "file=@$ROOT/etc/kibana/loadtest-data-view.json;filename=data-view.ndjson" \
  'http://127.0.0.1:5601${base_path}/api/saved_objects/_import?overwrite=true'

ready_when_listening kibana 5601
