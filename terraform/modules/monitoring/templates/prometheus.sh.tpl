#!/bin/bash
# Prometheus of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/monitoring/templates/prometheus.sh.tpl.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: prometheus boot script starting at $(date -u +%FT%TZ)"

${common}
${artifacts_script}
trap 'rc=$?; boot_failed prometheus "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

retry dnf install -y tar gzip

id prometheus >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin prometheus
mkdir -p "$ROOT/var/lib/prometheus" "$ROOT/etc/prometheus"
chown prometheus:prometheus "$ROOT/var/lib/prometheus" "$ROOT/etc/prometheus"

# From the environment's bucket (the pinned artifact set), the upstream mirror only when the bucket
# lacks it; a rebuilt monitoring host never depends on GitHub being reachable.
fetch_artifact prometheus
install -D -m 0755 -t "$ROOT/usr/local/bin/" \
  "$ROOT/opt/$(artifact_dir prometheus)/prometheus" "$ROOT/opt/$(artifact_dir prometheus)/promtool"

# The JMeter hosts of this environment, found by their tags (EC2 service discovery, through the
# instance profile), scraped on the node exporter port. The JMeter series come from the master
# alone (its loadtest-jtl-exporter follows the test's JTL, which holds every slave's samples,
# into node_exporter's textfile collector): job jmeter scrapes the master every 5 s and keeps
# only jmeter_* (the load-test dashboard); job jmeter-node keeps the rest (the hosts
# dashboard), so no series is stored twice. Neither job sets a "host" label: the JMeter series
# carry the load generator's own host name from the JTL.
put_file 0644 /etc/prometheus/prometheus.yml <<'YAML'
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels:
    loadtest_env: '${environment_name}'

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']

  - job_name: jmeter-node
    ec2_sd_configs:
      - region: '${region}'
        port: 9100
        refresh_interval: 30s
        filters:
          - name: 'tag:loadtest:env'
            values: ['${environment_name}']
          - name: 'tag:loadtest:role'
            values: ['jmeter-master', 'jmeter-slave']
          - name: instance-state-name
            values: ['running']
    relabel_configs:
      - source_labels: [__meta_ec2_tag_loadtest_role]
        target_label: role
      - source_labels: [__meta_ec2_instance_id]
        target_label: instance_id
      - source_labels: [__meta_ec2_instance_type]
        target_label: instance_type
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'jmeter_.*'
        action: drop

  - job_name: jmeter
    scrape_interval: 5s
    ec2_sd_configs:
      - region: '${region}'
        port: 9100
        refresh_interval: 15s
        filters:
          - name: 'tag:loadtest:env'
            values: ['${environment_name}']
          - name: 'tag:loadtest:role'
            values: ['jmeter-master']
          - name: instance-state-name
            values: ['running']
    relabel_configs:
      - source_labels: [__meta_ec2_tag_loadtest_role]
        target_label: role
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'jmeter_.*'
        action: keep
YAML
"$ROOT/usr/local/bin/promtool" check config "$ROOT/etc/prometheus/prometheus.yml"

put_file 0644 /etc/systemd/system/prometheus.service <<'UNIT'
[Unit]
Description=Prometheus
After=network-online.target
Wants=network-online.target

[Service]
User=prometheus
ExecStart=/usr/local/bin/prometheus \
  --config.file=/etc/prometheus/prometheus.yml \
  --storage.tsdb.path=/var/lib/prometheus \
  --storage.tsdb.retention.time=${retention} \
  --web.listen-address=:9090
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now prometheus

ready_when_listening prometheus 9090
