# --- the pinned artifact set (terraform/modules/artifacts/fetch.sh.tpl) -----------------------
# Included by every boot script that installs software from the manifest; uses ROOT, REGION,
# BUCKET and say() of the script's own common part.
# The manifest (modules/artifacts/artifacts.json): name file unpacks_to algo sum urls...
ARTIFACTS=$(cat <<'LIST'
%{ for a in artifacts ~}
${a.name} ${a.file} ${a.unpacks_to} ${lookup(a, "sha512", "") != "" ? "sha512" : "sha256"} ${lookup(a, "sha512", "") != "" ? a.sha512 : a.sha256} ${join(" ", a.urls)}
%{ endfor ~}
LIST
)

# fetch_artifact <name>: unpacks a pinned artifact into /opt/<unpacks_to> unless it is already
# there (a baked image). The bucket's artifacts/ first; when the bucket lacks it, the upstream
# mirrors (time-limited, retried), and the verified file goes into the bucket for later boots.
# Nothing whose checksum differs from the manifest is ever unpacked.
fetch_artifact() {
  local name=$1 file unpacks_to algo sum urls work url fetched=""
  read -r _ file unpacks_to algo sum urls < <(awk -v n="$name" '$1 == n' <<<"$ARTIFACTS")
  [ -n "$${file:-}" ] || { echo "artifact $name is not in the manifest" >&2; return 1; }
  if [ -d "$ROOT/opt/$unpacks_to" ]; then
    say "$name: /opt/$unpacks_to present (baked image), no download"
    return 0
  fi
  work=$(mktemp -d)
  if aws s3 cp --region "$REGION" --only-show-errors "s3://$BUCKET/artifacts/$file" "$work/$file" &&
    echo "$sum  $work/$file" | "$${algo}sum" -c --quiet - >/dev/null 2>&1; then
    fetched=bucket
  else
    rm -f "$work/$file"
    for url in $urls; do
      if curl --fail --silent --show-error --location --retry 3 --retry-delay 5 \
        --connect-timeout 20 --max-time 900 --output "$work/$file" "$url" &&
        echo "$sum  $work/$file" | "$${algo}sum" -c --quiet - >/dev/null 2>&1; then
        fetched=$url
        # Fill the bucket once: later boots and scale-ups never depend on the mirrors.
        aws s3 cp --region "$REGION" --only-show-errors "$work/$file" "s3://$BUCKET/artifacts/$file" ||
          say "$name: could not upload to the bucket (next boots download again)"
        break
      fi
      rm -f "$work/$file"
    done
  fi
  if [ -z "$fetched" ]; then
    rm -rf "$work"
    echo "$name: neither s3://$BUCKET/artifacts/$file nor any mirror gave a file with the pinned $algo" >&2
    return 1
  fi
  mkdir -p "$ROOT/opt"
  tar -xzf "$work/$file" -C "$ROOT/opt"
  rm -rf "$work"
  say "$name installed in /opt/$unpacks_to (from $fetched)"
}
# artifact_dir <name>: where fetch_artifact unpacked it, relative to /opt.
artifact_dir() {
  awk -v n="$1" '$1 == n { print $3 }' <<<"$ARTIFACTS"
}

# --- end of the artifact set ----------------------------------------------------------------
