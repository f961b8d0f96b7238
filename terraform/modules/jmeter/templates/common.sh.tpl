# --- common to every JMeter host: Java, JMeter, node exporter (templates/common.sh.tpl) ------

JMETER_VERSION='${jmeter_version}'
JMETER_HOME=/opt/jmeter
NODE_EXPORTER_VERSION='${node_exporter_version}'

# retry <command...>: package mirrors and downloads fail now and then at boot.
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 10 ]; then
      echo "giving up after $n attempts: $*" >&2
      return 1
    fi
    sleep 6
  done
}

# imds <path>: instance metadata through IMDSv2 (the instances require tokens).
imds() {
  local token
  token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

PRIVATE_IP=$(retry imds local-ipv4)

retry yum install -y java-11-amazon-corretto-headless awscli tar gzip

id jmeter >/dev/null 2>&1 || useradd --system --home-dir /var/lib/jmeter --create-home jmeter

if [ ! -x "$JMETER_HOME/bin/jmeter" ]; then
  workdir=$(mktemp -d)
  tarball="apache-jmeter-$JMETER_VERSION.tgz"
  retry curl -fsSL -o "$workdir/$tarball" "https://archive.apache.org/dist/jmeter/binaries/$tarball"
  retry curl -fsSL -o "$workdir/$tarball.sha512" "https://archive.apache.org/dist/jmeter/binaries/$tarball.sha512"
  (cd "$workdir" && sha512sum -c "$tarball.sha512")
  tar -xzf "$workdir/$tarball" -C /opt
  ln -sfn "/opt/apache-jmeter-$JMETER_VERSION" "$JMETER_HOME"
  rm -rf "$workdir"
fi

# JMeter's heap: 70 % of the memory; the RMI registry port is fixed. Read by systemd
# (EnvironmentFile) and by bash (loadtest-run), so values are quoted.
mem_mb=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
heap_mb=$((mem_mb * 7 / 10))
cat >/etc/default/jmeter <<ENV
HEAP="-Xms$${heap_mb}m -Xmx$${heap_mb}m -XX:MaxMetaspaceSize=256m"
SERVER_PORT=${server_port}
ENV

if [ ! -x /usr/local/bin/node_exporter ]; then
  workdir=$(mktemp -d)
  ne="node_exporter-$NODE_EXPORTER_VERSION.linux-amd64"
  base="https://github.com/prometheus/node_exporter/releases/download/v$NODE_EXPORTER_VERSION"
  retry curl -fsSL -o "$workdir/$ne.tar.gz" "$base/$ne.tar.gz"
  retry curl -fsSL -o "$workdir/sha256sums.txt" "$base/sha256sums.txt"
  (cd "$workdir" && grep " $ne.tar.gz\$" sha256sums.txt | sha256sum -c -)
  tar -xzf "$workdir/$ne.tar.gz" -C "$workdir"
  install -m 0755 "$workdir/$ne/node_exporter" /usr/local/bin/node_exporter
  rm -rf "$workdir"
fi
id node_exporter >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin node_exporter
cat >/etc/systemd/system/node_exporter.service <<'UNIT'
[Unit]
Description=Prometheus node exporter
After=network-online.target
Wants=network-online.target

[Service]
User=node_exporter
ExecStart=/usr/local/bin/node_exporter --web.listen-address=:9100
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now node_exporter

# --- end of common ---------------------------------------------------------------------------
