#!/bin/bash
# JMeter master of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/jmeter/templates/master.sh.tpl.
set -euo pipefail
exec > >(tee -a /var/log/loadtest-user-data.log) 2>&1
echo "loadtest: jmeter-master boot script starting at $(date -u +%FT%TZ)"

${common}

# Results are written by whoever runs a test (loadtest-run): a shared, sticky directory.
install -d -o jmeter -g jmeter -m 1777 /var/lib/jmeter/results
install -d -o jmeter -g jmeter /var/lib/jmeter/plans

# The slaves call the master (client) back on client.rmi.localport: they must be told its
# private address.
echo "JVM_ARGS=\"-Djava.rmi.server.hostname=$PRIVATE_IP\"" >>/etc/default/jmeter

# Filebeat ships JMeter results to Elasticsearch while the environment runs one ("full"
# monitoring); loadtest-refresh configures and starts it when it finds Elasticsearch.
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
retry yum install -y 'filebeat-${elastic_version}'
systemctl disable --now filebeat || true

# loadtest-refresh: the slaves' IPs are not known when Terraform runs (the autoscaling group
# launches them), so the master looks up the running slaves of its environment by their tags
# and writes them into remote_hosts; it also points Filebeat at Elasticsearch when one runs.
cat >/usr/local/sbin/loadtest-refresh <<'SCRIPT'
#!/bin/bash
set -euo pipefail
region='${region}'
env_name='${environment_name}'
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# running_ips <role>: private IPs of this environment's running instances of that role.
running_ips() {
  aws ec2 describe-instances --region "$region" --output text \
    --filters "Name=tag:loadtest:env,Values=$env_name" "Name=tag:loadtest:role,Values=$1" \
    "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[].PrivateIpAddress' |
    tr -s '[:space:]' '\n' | awk 'NF' | sort -t . -k1,1n -k2,2n -k3,3n -k4,4n
}

# install_if_changed <file> <mode>: move $tmp over <file> if it differs; true if it did.
install_if_changed() {
  if cmp -s "$tmp" "$1"; then
    return 1
  fi
  install -m "$2" "$tmp" "$1"
}

slaves=$(running_ips '${slave_role}' | awk '{ printf "%s%s:${server_port}", (NR > 1 ? "," : ""), $0 }')
cat >"$tmp" <<PROPS
# Managed by /usr/local/sbin/loadtest-refresh (every minute): do not edit.
client.rmi.localport=${client_rmi_port}
server.rmi.ssl.disable=true
remote_hosts=$slaves
PROPS
if install_if_changed /opt/jmeter/bin/user.properties 0644; then
  echo "$slaves" | tr ',' '\n' | awk 'NF' >/var/lib/jmeter/slaves
  echo "remote_hosts=$slaves"
fi

es_ip=$(running_ips elasticsearch | head -n 1)
if [ -n "$es_ip" ]; then
  cat >"$tmp" <<YAML
# Managed by /usr/local/sbin/loadtest-refresh: do not edit.
filebeat.inputs:
  - type: filestream
    id: jmeter-results
    paths: ["/var/lib/jmeter/results/*.jtl", "/var/lib/jmeter/results/*.log"]
    fields: {loadtest_env: "$env_name"}
output.elasticsearch:
  hosts: ["http://$es_ip:9200"]
YAML
  if install_if_changed /etc/filebeat/filebeat.yml 0600 || ! systemctl is-active --quiet filebeat; then
    systemctl enable filebeat
    systemctl restart filebeat
    echo "filebeat -> $es_ip"
  fi
elif systemctl is-active --quiet filebeat; then
  systemctl disable --now filebeat
fi
SCRIPT
chmod 0755 /usr/local/sbin/loadtest-refresh

cat >/etc/systemd/system/loadtest-refresh.service <<'UNIT'
[Unit]
Description=Refresh JMeter remote_hosts from the running slaves
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/loadtest-refresh
UNIT
cat >/etc/systemd/system/loadtest-refresh.timer <<'UNIT'
[Unit]
Description=Refresh JMeter remote_hosts every minute

[Timer]
OnBootSec=30s
OnUnitActiveSec=60s

[Install]
WantedBy=timers.target
UNIT

# loadtest-run <plan.jmx> [jmeter args...]: distributed, non-GUI run on all current slaves,
# results and HTML report under /var/lib/jmeter/results.
cat >/usr/local/bin/loadtest-run <<'SCRIPT'
#!/bin/bash
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: loadtest-run <plan.jmx> [jmeter args...]" >&2; exit 2; }
plan=$1
shift
sudo /usr/local/sbin/loadtest-refresh >/dev/null
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=/var/lib/jmeter/results/$stamp
set -a
. /etc/default/jmeter
set +a
exec /opt/jmeter/bin/jmeter -n -t "$plan" -r -l "$out.jtl" -j "$out.log" -e -o "$out-report" "$@"
SCRIPT
chmod 0755 /usr/local/bin/loadtest-run

systemctl daemon-reload
systemctl enable --now loadtest-refresh.timer
/usr/local/sbin/loadtest-refresh || echo "loadtest: first refresh failed; the timer retries"

echo "loadtest: jmeter-master ready on $PRIVATE_IP"
