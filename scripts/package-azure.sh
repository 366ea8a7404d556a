#!/usr/bin/env bash
# Builds the Azure Functions custom-handler package:
#   dist/azure/               host.json, one folder per function, the `entra-sso` binary
#                             (plus a copy of ./local.settings.json, if any, for `func start`)
#   dist/entra-sso-azure.zip  the same tree without local settings, for zip deploy
#
# Usage: scripts/package-azure.sh [--target auto|gnu|gnu-2.17|<triple>] [--binary PATH] [--out DIR]
#   --target  passed to scripts/build-release.sh (default auto: a binary that needs only glibc
#             2.17, through cargo-zigbuild when installed, else a native build with a warning
#             about the glibc floor); any Rust triple also works, e.g. x86_64-unknown-linux-musl
#             (a static binary; needs that target's std)
#   --binary  package this executable instead of building one (no cargo run)
#   --out     output directory instead of dist/
#
# The binary is built with --no-default-features: no dev identity provider, no Lambda adapter.
# Deploy: docs/azure.md.
set -euo pipefail

BUILD_ARGS=()
source "$(dirname "${BASH_SOURCE[0]}")/package-common.sh"
app="$dist/azure"
zip="$dist/entra-sso-azure.zip"
rm -rf "$app" "$zip"
mkdir -p "$app"

# The Functions host expects host.json and every function folder at the app root,
# with the executable named in host.json beside them.
cp host.json "$app/"
for fn in function_app/*/; do
    name="$(basename "$fn")"
    mkdir -p "$app/$name"
    cp "$fn/function.json" "$app/$name/"
done
install -m 0755 "$binary" "$app/entra-sso"

# `func start` runs in dist/azure and reads local.settings.json there, so a local copy travels
# along. It never goes into the zip, and .funcignore keeps Core Tools' publish from uploading it.
printf 'local.settings.json\n' > "$app/.funcignore"
if [[ -f local.settings.json ]]; then
    install -m 0600 local.settings.json "$app/"
fi

# Python's zipfile instead of `zip`: it is always at hand, and external_attr carries the
# Unix mode so the binary keeps its run bit when the platform unpacks the archive.
python3 "$root/scripts/package-zip.py" write "$app" "$zip" --exclude local.settings.json --exclude .funcignore

# Layout, run bit, Linux x86-64, no dev IdP, glibc floor.
echo >&2
python3 "$root/scripts/package-zip.py" check azure "$zip"

echo
echo "package:"
(cd "$dist" && find azure -type f | sort | while read -r f; do
    printf '  %-52s %10s bytes\n' "${dist#"$root"/}/$f" "$(wc -c < "$f" | tr -d ' ')"
done)
printf '  %-52s %10s bytes\n' "${zip#"$root"/}" "$(wc -c < "$zip" | tr -d ' ')"
