# --- common to every JMeter host (templates/common.sh.tpl) -----------------------------------
# ROOT prefixes every path written, so that the tests can run this script in a temporary
# directory with stub commands on PATH; on a host it is empty.
ROOT=$${LOADTEST_ROOT:-}
REGION='${region}'
ENV_NAME='${environment_name}'
BUCKET='${bucket}'
READY_PREFIX='${ready_prefix}'
READY_TIMEOUT=$${LOADTEST_READY_TIMEOUT:-${ready_timeout}}
POLL_SECONDS=$${LOADTEST_POLL_SECONDS:-5}
JMETER_HOME=/opt/jmeter
CONSOLE=$ROOT/dev/console

# say <text>: to the boot log and, when there is one, the console (EC2's console output).
say() {
  echo "loadtest: $*"
  if [ -w "$CONSOLE" ]; then echo "loadtest: $*" >"$CONSOLE" || true; fi
}

# retry <command...>: package mirrors and the metadata service fail now and then at boot.
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 10 ]; then
      echo "giving up after $n attempts: $*" >&2
      return 1
    fi
    sleep "$POLL_SECONDS"
  done
}

# imds <path>: instance metadata through IMDSv2 (the instances require tokens).
imds() {
  local token
  token=$(curl -fsS --max-time 5 -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/$1"
}

# put_file <mode> <path>: stdin to ROOT<path>, creating its directory.
put_file() {
  mkdir -p "$(dirname "$ROOT$2")"
  cat >"$ROOT$2"
  chmod "$1" "$ROOT$2"
}

# port_listening <port>: something listens on that TCP port here.
port_listening() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# wait_listening <port>: polls until the port listens, at most READY_TIMEOUT seconds.
wait_listening() {
  local waited=0
  until port_listening "$1"; do
    if [ "$waited" -ge "$READY_TIMEOUT" ]; then
      return 1
    fi
    sleep "$POLL_SECONDS"
    waited=$((waited + POLL_SECONDS))
    # A zero interval (tests) still makes progress towards the limit.
    if [ "$POLL_SECONDS" -eq 0 ]; then waited=$((waited + 1)); fi
  done
}

# put_ready <role> <value>: the readiness parameter the bot reads after an apply.
put_ready() {
  aws ssm put-parameter --region "$REGION" --name "$READY_PREFIX$1" --type String \
    --overwrite --value "$2" >/dev/null
}

${artifacts_script}
INSTANCE_ID=$(retry imds instance-id)
PRIVATE_IP=$(retry imds local-ipv4)

retry dnf install -y java-17-amazon-corretto-headless tar gzip

id jmeter >/dev/null 2>&1 || useradd --system --home-dir /var/lib/jmeter --create-home jmeter

fetch_artifact jmeter
# Relative, so that the link also resolves inside ROOT.
ln -sfn "$(artifact_dir jmeter)" "$ROOT$JMETER_HOME"
fetch_artifact node_exporter
install -D -m 0755 "$ROOT/opt/$(artifact_dir node_exporter)/node_exporter" \
  "$ROOT/usr/local/bin/node_exporter"

# Settings of the host's own scripts (loadtest-refresh, loadtest-run, loadtest-stop).
put_file 0644 /etc/loadtest/env <<ENV
LOADTEST_ENV='${environment_name}'
LOADTEST_REGION='${region}'
LOADTEST_BUCKET='${bucket}'
LOADTEST_SLAVE_ASG='${asg_name}'
LOADTEST_SERVER_PORT=${server_port}
LOADTEST_CLIENT_RMI_PORT=${client_rmi_port}
LOADTEST_CLIENT_TRIES=${client_tries}
LOADTEST_CLIENT_RETRIES_DELAY_MS=${client_retries_delay_ms}
LOADTEST_TEXTFILE_DIR=/var/lib/node_exporter/textfile
LOADTEST_PRIVATE_IP=$PRIVATE_IP
ENV

# The heap is sized from the memory at every start of a JMeter program (a resize keeps the
# host, so a size computed once at first boot would be wrong after it).
put_file 0755 /usr/local/bin/loadtest-jmeter <<'LOADTEST_FILE'
${loadtest_jmeter}
LOADTEST_FILE

# Slaves and master pull test plans, CSV data and plugin jars from the bucket.
put_file 0755 /usr/local/sbin/loadtest-sync-plans <<'LOADTEST_FILE'
${loadtest_sync_plans}
LOADTEST_FILE

mkdir -p "$ROOT/var/lib/jmeter/plans"
chown -R jmeter:jmeter "$ROOT/var/lib/jmeter"

id node_exporter >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin node_exporter
# The textfile collector serves the master's JMeter series (loadtest-jtl-exporter writes them
# there) on the node exporter port Prometheus already scrapes; on a slave it stays empty.
mkdir -p "$ROOT/var/lib/node_exporter/textfile"
chmod 0755 "$ROOT/var/lib/node_exporter/textfile"
put_file 0644 /etc/systemd/system/node_exporter.service <<'UNIT'
[Unit]
Description=Prometheus node exporter
After=network-online.target
Wants=network-online.target

[Service]
User=node_exporter
ExecStart=/usr/local/bin/node_exporter --web.listen-address=:9100 --collector.textfile.directory=/var/lib/node_exporter/textfile
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now node_exporter

# --- end of common ---------------------------------------------------------------------------
