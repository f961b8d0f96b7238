#!/bin/bash
# JMeter master of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/jmeter/templates/master.sh.tpl.
#
# Readiness: the last step writes the SSM parameter ${ready_prefix}master = "ok <UTC time>";
# any failure writes "failed: <reason>" there instead.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: jmeter-master boot script starting at $(date -u +%FT%TZ)"

boot_failed() {
  trap - ERR
  say "jmeter-master NOT ready: $1"
  put_ready master "failed: $1" || true
  exit 1
}
trap 'rc=$?; boot_failed "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

${common}

# Results are written by loadtest-run, one directory per test id.
mkdir -p "$ROOT/var/lib/jmeter/results"
chown jmeter:jmeter "$ROOT/var/lib/jmeter/results"

# The slaves call the master (client) back on client.rmi.localport: they must be told its
# private address.
put_file 0644 /etc/default/jmeter <<ENV
RMI_HOST_DEF=-Djava.rmi.server.hostname=$PRIVATE_IP
ENV

# Filebeat ships JMeter results to Elasticsearch while the environment runs one ("full"
# monitoring); loadtest-refresh configures and starts it when it finds Elasticsearch.
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
retry dnf install -y 'filebeat-${elastic_version}'
systemctl disable --now filebeat || true

put_file 0755 /usr/local/sbin/loadtest-refresh <<'LOADTEST_FILE'
${loadtest_refresh}
LOADTEST_FILE
put_file 0755 /usr/local/bin/loadtest-run <<'LOADTEST_FILE'
${loadtest_run}
LOADTEST_FILE
put_file 0755 /usr/local/bin/loadtest-stop <<'LOADTEST_FILE'
${loadtest_stop}
LOADTEST_FILE
# JMeter's figures for Prometheus: loadtest-run starts it beside each test (python3 is part of
# Amazon Linux 2023; installed here in case an image lacks it).
retry dnf install -y python3
put_file 0755 /usr/local/bin/loadtest-jtl-exporter <<'LOADTEST_FILE'
${loadtest_jtl_exporter}
LOADTEST_FILE

put_file 0644 /etc/systemd/system/loadtest-refresh.service <<'UNIT'
[Unit]
Description=Refresh JMeter remote_hosts from the ready slaves
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/loadtest-refresh
UNIT
put_file 0644 /etc/systemd/system/loadtest-refresh.timer <<'UNIT'
[Unit]
Description=Refresh JMeter remote_hosts every minute

[Timer]
OnBootSec=30s
OnUnitActiveSec=60s

[Install]
WantedBy=timers.target
UNIT

systemctl daemon-reload
systemctl enable --now loadtest-refresh.timer
PATH=$ROOT/usr/local/sbin:$ROOT/usr/local/bin:$PATH
LOADTEST_ROOT=$ROOT loadtest-refresh || say "first refresh failed; the timer retries"

put_ready master "ok $(date -u +%FT%TZ)"
trap - ERR
say "jmeter-master ready on $PRIVATE_IP"
