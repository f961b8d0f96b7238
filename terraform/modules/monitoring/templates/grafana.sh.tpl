#!/bin/bash
# Grafana of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/monitoring/templates/grafana.sh.tpl.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: grafana boot script starting at $(date -u +%FT%TZ)"

${common}
trap 'rc=$?; boot_failed grafana "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

put_file 0644 /etc/yum.repos.d/grafana.repo <<'REPO'
[grafana]
name=Grafana OSS
baseurl=https://rpm.grafana.com
repo_gpgcheck=1
enabled=1
gpgcheck=1
gpgkey=https://rpm.grafana.com/gpg.key
sslverify=1
sslcacert=/etc/pki/tls/certs/ca-bundle.crt
REPO
retry dnf install -y 'grafana-${grafana_version}'

# The data source is provisioned (Prometheus has a fixed private IP).
put_file 0644 /etc/grafana/provisioning/datasources/loadtest.yaml <<'YAML'
apiVersion: 1
datasources:
  - name: Prometheus
    uid: loadtest-prometheus
    type: prometheus
    access: proxy
    url: '${prometheus_url}'
    isDefault: true
    editable: false
    jsonData:
      timeInterval: 5s
YAML

# Both dashboards of terraform/modules/monitoring/dashboards, from the environment's bucket
# (too large for user data): the load test and the hosts.
put_file 0644 /etc/grafana/provisioning/dashboards/loadtest.yaml <<'YAML'
apiVersion: 1
providers:
  - name: loadtest
    folder: Load test
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: /var/lib/grafana/dashboards/loadtest
YAML
mkdir -p "$ROOT/var/lib/grafana/dashboards/loadtest"
for dashboard in loadtest hosts; do
  retry aws s3 cp --region "$REGION" --only-show-errors "s3://$BUCKET/config/grafana/$dashboard.json" \
    "$ROOT/var/lib/grafana/dashboards/loadtest/$dashboard.json"
done

# No default admin/admin: a random admin password, readable by root only on this host
# (SSM Session Manager: sudo cat /root/grafana-admin-password).
mkdir -p "$ROOT/root" "$ROOT/etc/sysconfig"
if [ ! -s "$ROOT/root/grafana-admin-password" ]; then
  (umask 077 && openssl rand -base64 24 | tr -d '\n' >"$ROOT/root/grafana-admin-password")
fi
password=$(cat "$ROOT/root/grafana-admin-password")
touch "$ROOT/etc/sysconfig/grafana-server"
sed -i '/^GF_SECURITY_/d' "$ROOT/etc/sysconfig/grafana-server"
cat >>"$ROOT/etc/sysconfig/grafana-server" <<ENV
GF_SECURITY_ADMIN_PASSWORD=$password
GF_USERS_ALLOW_SIGN_UP=false
GF_AUTH_ANONYMOUS_ENABLED=false
ENV
chmod 0640 "$ROOT/etc/sysconfig/grafana-server"

systemctl daemon-reload
systemctl enable --now grafana-server

ready_when_listening grafana 3000
