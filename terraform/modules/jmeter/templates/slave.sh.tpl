#!/bin/bash
# JMeter slave of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/jmeter/templates/slave.sh.tpl.
set -euo pipefail
exec > >(tee -a /var/log/loadtest-user-data.log) 2>&1
echo "loadtest: jmeter-slave boot script starting at $(date -u +%FT%TZ)"

${common}

# Fixed RMI ports (the security group opens exactly these inside the VPC). RMI over SSL is off:
# the ports are reachable from inside the environment's own VPC only.
cat >"$JMETER_HOME/bin/user.properties" <<PROPS
# Managed by the boot script of this load-test slave.
server_port=${server_port}
server.rmi.localport=${server_rmi_port}
server.rmi.ssl.disable=true
PROPS

cat >/etc/systemd/system/jmeter-server.service <<UNIT
[Unit]
Description=JMeter server (slave) of load-test environment ${environment_name}
After=network-online.target
Wants=network-online.target

[Service]
User=jmeter
WorkingDirectory=/var/lib/jmeter
EnvironmentFile=/etc/default/jmeter
Environment=RMI_HOST_DEF=-Djava.rmi.server.hostname=$PRIVATE_IP
ExecStart=$JMETER_HOME/bin/jmeter-server
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now jmeter-server

echo "loadtest: jmeter-slave ready on $PRIVATE_IP:${server_port}"
