#!/usr/bin/env bash
# Installs pinned artifacts of the manifest into an image being built (the Packer template's
# provisioner; terraform/images/README in terraform/README.md):
#
#   ARTIFACTS_MANIFEST=/tmp/artifacts.json install-artifacts.sh jmeter node_exporter
#
# For each name: tries the manifest's URLs in order (curl with a time limit and retries), checks
# the file against the manifest's sha512 or sha256 (a mismatch stops the build: nothing
# unverified is ever installed), and unpacks it into /opt/<unpacks_to>, where the boot scripts
# look first and skip their own download. JMeter is also linked as /opt/jmeter, as the boot
# scripts do.
#
# Manifest: a JSON list of {name, version, file, unpacks_to, sha256 or sha512, urls}.
# IMAGE_ROOT (default empty) prefixes every path written, for tests.
set -euo pipefail

manifest=${ARTIFACTS_MANIFEST:?ARTIFACTS_MANIFEST must name the artifact manifest}
root=${IMAGE_ROOT:-}
download_seconds=${DOWNLOAD_MAX_SECONDS:-900}

say() { echo "install-artifacts: $*" >&2; }
die() { echo "install-artifacts: error: $*" >&2; exit 1; }

[ $# -gt 0 ] || die "name at least one artifact of $manifest"
[ -r "$manifest" ] || die "cannot read the manifest $manifest"

# field <name> <key>: one field of an artifact (a list prints one item per line; a missing key
# prints nothing).
field() {
    python3 - "$manifest" "$1" "$2" <<'PY'
import json, sys
path, name, key = sys.argv[1:]
entries = [e for e in json.load(open(path)) if e.get("name") == name]
if len(entries) != 1:
    sys.exit(f"{len(entries)} artifacts named {name!r} in {path}")
value = entries[0].get(key)
if isinstance(value, list):
    print("\n".join(value))
elif value is not None:
    print(value)
PY
}

downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
mkdir -p "$root/opt"

for name in "$@"; do
    file=$(field "$name" file) || die "$name is not in $manifest"
    unpacks_to=$(field "$name" unpacks_to)
    version=$(field "$name" version)
    [ -n "$file" ] && [ -n "$unpacks_to" ] || die "$name: the manifest needs file and unpacks_to"
    case $file$unpacks_to in */*|*..*) die "$name: file and unpacks_to must be plain names" ;; esac

    if sum=$(field "$name" sha512) && [ -n "$sum" ]; then
        tool=sha512sum
    else
        sum=$(field "$name" sha256)
        tool=sha256sum
    fi
    [ -n "$sum" ] || die "$name: the manifest has neither sha512 nor sha256"

    target=$downloads/$file
    fetched=""
    while IFS= read -r url; do
        [ -n "$url" ] || continue
        say "$name $version: downloading $url"
        if curl --fail --silent --show-error --location --retry 3 --retry-delay 5 \
            --connect-timeout 20 --max-time "$download_seconds" --output "$target" "$url"; then
            fetched=$url
            break
        fi
        say "$name: $url failed, trying the next URL"
    done < <(field "$name" urls)
    [ -n "$fetched" ] || die "$name: no URL of the manifest answered"

    actual=$("$tool" "$target" | cut -d' ' -f1)
    [ "$actual" = "$sum" ] || die "$name: $fetched has $tool $actual, the manifest pins $sum; not installing it"

    rm -rf "${root:?}/opt/$unpacks_to.tmp"
    mkdir -p "$root/opt/$unpacks_to.tmp"
    tar -xzf "$target" -C "$root/opt/$unpacks_to.tmp"
    # The archive holds one top-level directory named unpacks_to.
    [ -d "$root/opt/$unpacks_to.tmp/$unpacks_to" ] || die "$name: $file does not unpack to $unpacks_to"
    rm -rf "${root:?}/opt/$unpacks_to"
    mv "$root/opt/$unpacks_to.tmp/$unpacks_to" "$root/opt/$unpacks_to"
    rm -rf "${root:?}/opt/$unpacks_to.tmp" "$target"
    if [ "$name" = jmeter ]; then
        ln -sfn "/opt/$unpacks_to" "$root/opt/jmeter"
    fi
    say "$name $version installed in /opt/$unpacks_to"
done
