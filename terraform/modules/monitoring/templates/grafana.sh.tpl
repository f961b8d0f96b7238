#!/bin/bash
# Grafana of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/monitoring/templates/grafana.sh.tpl.
set -euo pipefail
exec > >(tee -a /var/log/loadtest-user-data.log) 2>&1
echo "loadtest: grafana boot script starting at $(date -u +%FT%TZ)"

${common}

cat >/etc/yum.repos.d/grafana.repo <<'REPO'
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
retry yum install -y 'grafana-${grafana_version}'

# The data source is provisioned (Prometheus has a fixed private IP).
cat >/etc/grafana/provisioning/datasources/loadtest.yaml <<'YAML'
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
      timeInterval: 15s
YAML

# No default admin/admin: a random admin password, readable by root only on this host
# (SSM Session Manager: sudo cat /root/grafana-admin-password).
if [ ! -s /root/grafana-admin-password ]; then
  (umask 077 && openssl rand -base64 24 | tr -d '\n' >/root/grafana-admin-password)
fi
password=$(cat /root/grafana-admin-password)
sed -i '/^GF_SECURITY_/d' /etc/sysconfig/grafana-server
cat >>/etc/sysconfig/grafana-server <<ENV
GF_SECURITY_ADMIN_PASSWORD=$password
GF_USERS_ALLOW_SIGN_UP=false
GF_AUTH_ANONYMOUS_ENABLED=false
ENV
chmod 0640 /etc/sysconfig/grafana-server

systemctl daemon-reload
systemctl enable --now grafana-server

echo "loadtest: grafana ready"
