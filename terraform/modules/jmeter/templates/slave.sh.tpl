#!/bin/bash
# JMeter slave of load-test environment ${environment_name}.
# Rendered by Terraform from terraform/modules/jmeter/templates/slave.sh.tpl.
#
# Readiness: the slaves' group holds this instance in Pending:Wait (launch lifecycle hook
# ${lifecycle_hook}, default ABANDON) until this script completes the hook: CONTINUE only once
# jmeter-server listens on its RMI port, ABANDON (with the reason in the instance tag
# loadtest:ready-error and on the console) when anything fails. Terraform's capacity wait
# therefore means every slave can take load.
set -eEuo pipefail
mkdir -p "$${LOADTEST_ROOT:-}/var/log"
exec > >(tee -a "$${LOADTEST_ROOT:-}/var/log/loadtest-user-data.log") 2>&1
echo "loadtest: jmeter-slave boot script starting at $(date -u +%FT%TZ)"

ASG_NAME='${asg_name}'
LIFECYCLE_HOOK='${lifecycle_hook}'
INSTANCE_ID=""

# complete_hook <CONTINUE|ABANDON>
complete_hook() {
  aws autoscaling complete-lifecycle-action --region "$REGION" \
    --auto-scaling-group-name "$ASG_NAME" --lifecycle-hook-name "$LIFECYCLE_HOOK" \
    --instance-id "$INSTANCE_ID" --lifecycle-action-result "$1"
}

# abandon <reason>: this slave will not take load; the group replaces it.
abandon() {
  trap - ERR
  say "jmeter-slave NOT ready: $1"
  if [ -n "$INSTANCE_ID" ]; then
    aws ec2 create-tags --region "$REGION" --resources "$INSTANCE_ID" \
      --tags "Key=loadtest:ready-error,Value=$(printf '%s' "$1" | cut -c1-250)" || true
    complete_hook ABANDON || true
  fi
  exit 1
}
trap 'rc=$?; abandon "boot script line $LINENO: $BASH_COMMAND (exit $rc)"' ERR

${common}

# Fixed RMI ports (the security group opens exactly these inside the VPC). RMI over SSL is off:
# the ports are reachable from inside the environment's own VPC only.
put_file 0644 "$JMETER_HOME/bin/user.properties" <<PROPS
# Managed by the boot script of this load-test slave.
server_port=${server_port}
server.rmi.localport=${server_rmi_port}
server.rmi.ssl.disable=true
PROPS

put_file 0644 /etc/systemd/system/jmeter-server.service <<UNIT
[Unit]
Description=JMeter server (slave) of load-test environment ${environment_name}
After=network-online.target
Wants=network-online.target

[Service]
User=jmeter
WorkingDirectory=/var/lib/jmeter/plans
Environment=RMI_HOST_DEF=-Djava.rmi.server.hostname=$PRIVATE_IP
ExecStart=/usr/local/bin/loadtest-jmeter $JMETER_HOME/bin/jmeter-server
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT

/usr/local/sbin/loadtest-sync-plans || say "no plans in the bucket yet (loadtest-run syncs them)"
systemctl daemon-reload
systemctl enable --now jmeter-server

if ! wait_listening ${server_port}; then
  abandon "jmeter-server is not listening on port ${server_port} after $${READY_TIMEOUT}s"
fi
aws ec2 create-tags --region "$REGION" --resources "$INSTANCE_ID" --tags Key=loadtest:ready,Value=true
complete_hook CONTINUE
trap - ERR
say "jmeter-slave ready on $PRIVATE_IP:${server_port}"
