# --- common to every monitoring host (templates/common.sh.tpl) -------------------------------
# ROOT prefixes every path written, so that the tests can run this script in a temporary
# directory with stub commands on PATH; on a host it is empty.
ROOT=$${LOADTEST_ROOT:-}
REGION='${region}'
BUCKET='${bucket}'
READY_PREFIX='${ready_prefix}'
READY_TIMEOUT=$${LOADTEST_READY_TIMEOUT:-${ready_timeout}}
POLL_SECONDS=$${LOADTEST_POLL_SECONDS:-5}
CONSOLE=$ROOT/dev/console

# say <text>: to the boot log and, when there is one, the console (EC2's console output).
say() {
  echo "loadtest: $*"
  if [ -w "$CONSOLE" ]; then echo "loadtest: $*" >"$CONSOLE" || true; fi
}

# retry <command...>: package mirrors and downloads fail now and then at boot.
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

# put_file <mode> <path>: stdin to ROOT<path>, creating its directory.
put_file() {
  mkdir -p "$(dirname "$ROOT$2")"
  cat >"$ROOT$2"
  chmod "$1" "$ROOT$2"
}

# wait_listening <port>: polls until the TCP port listens, at most READY_TIMEOUT seconds.
wait_listening() {
  local waited=0
  until ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; do
    if [ "$waited" -ge "$READY_TIMEOUT" ]; then
      return 1
    fi
    sleep "$POLL_SECONDS"
    waited=$((waited + POLL_SECONDS))
    if [ "$POLL_SECONDS" -eq 0 ]; then waited=$((waited + 1)); fi
  done
}

# put_ready <role> <value>: the readiness parameter the bot reads after an apply.
put_ready() {
  aws ssm put-parameter --region "$REGION" --name "$READY_PREFIX$1" --type String \
    --overwrite --value "$2" >/dev/null
}

# ready_when_listening <role> <port>: the last step of a boot.
ready_when_listening() {
  if wait_listening "$2"; then
    put_ready "$1" "ok $(date -u +%FT%TZ)"
    say "$1 ready"
  else
    put_ready "$1" "failed: nothing listens on port $2 after $${READY_TIMEOUT}s" || true
    say "$1 NOT ready: nothing listens on port $2"
    exit 1
  fi
}

# boot_failed <role> <reason>: any failing step of a boot.
boot_failed() {
  trap - ERR
  say "$1 NOT ready: $2"
  put_ready "$1" "failed: $2" || true
  exit 1
}

# --- end of common ---------------------------------------------------------------------------
