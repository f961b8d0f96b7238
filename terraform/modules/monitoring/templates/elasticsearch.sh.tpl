#!/bin/bash
# Elasticsearch of load-test environment ${environment_name} (single node).
# Rendered by Terraform from terraform/modules/monitoring/templates/elasticsearch.sh.tpl.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: elasticsearch boot script starting at $(date -u +%FT%TZ)"

${common}
trap 'rc=$?; boot_failed elasticsearch "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

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
retry dnf install -y 'elasticsearch-${elastic_version}'

echo 'vm.max_map_count=262144' | put_file 0644 /etc/sysctl.d/90-elasticsearch.conf
sysctl -p "$ROOT/etc/sysctl.d/90-elasticsearch.conf"

# Plain HTTP without security: port 9200 is open only inside the environment's own VPC
# (the master's Filebeat and Kibana); nothing outside the VPC reaches it.
put_file 0644 /etc/elasticsearch/elasticsearch.yml <<'YAML'
cluster.name: 'loadtest-${environment_name}'
path.data: /var/lib/elasticsearch
path.logs: /var/log/elasticsearch
network.host: 0.0.0.0
http.port: 9200
discovery.type: single-node
xpack.security.enabled: false
xpack.security.enrollment.enabled: false
xpack.security.http.ssl.enabled: false
xpack.security.transport.ssl.enabled: false
YAML
for setting in xpack.security.http.ssl.keystore.secure_password \
  xpack.security.transport.ssl.keystore.secure_password \
  xpack.security.transport.ssl.truststore.secure_password; do
  "$ROOT/usr/share/elasticsearch/bin/elasticsearch-keystore" remove "$setting" 2>/dev/null || true
done

# Heap: half of the memory, at most 31 GiB.
mem_mb=$(awk '/MemTotal/ { print int($2 / 1024) }' "$${LOADTEST_MEMINFO:-/proc/meminfo}")
heap_mb=$((mem_mb / 2))
if [ "$heap_mb" -gt 31744 ]; then heap_mb=31744; fi
put_file 0644 /etc/elasticsearch/jvm.options.d/heap.options <<OPTS
-Xms$${heap_mb}m
-Xmx$${heap_mb}m
OPTS

systemctl daemon-reload
systemctl enable --now elasticsearch

# The JTL ingest pipeline (results from the master's Filebeat), from the environment's bucket.
wait_listening 9200
retry aws s3 cp --region "$REGION" --only-show-errors "s3://$BUCKET/config/elasticsearch/loadtest-jtl.json" \
  "$ROOT/etc/elasticsearch/loadtest-jtl-pipeline.json"
retry curl -fsS --max-time 30 -X PUT -H 'Content-Type: application/json' \
  --data-binary "@$ROOT/etc/elasticsearch/loadtest-jtl-pipeline.json" \
  http://127.0.0.1:9200/_ingest/pipeline/loadtest-jtl

ready_when_listening elasticsearch 9200
