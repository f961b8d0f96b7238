# --- common to every monitoring host (templates/common.sh.tpl) -------------------------------

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

# --- end of common ---------------------------------------------------------------------------
