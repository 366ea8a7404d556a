#!/usr/bin/env bash
# Builds the Azure Functions custom-handler package:
#   dist/azure/               host.json, one folder per function, the `entra-sso` binary, and
#                             local.settings.json for Core Tools: a copy of ./local.settings.json
#                             if there is one, else one holding only FUNCTIONS_WORKER_RUNTIME=custom
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

# Core Tools runs in dist/azure and reads local.settings.json there: `func start` for the
# settings, and `func azure functionapp publish`, which refuses to run without a worker runtime
# (FUNCTIONS_WORKER_RUNTIME from the environment, else from this file). So the file always
# exists with the runtime set: the developer's own copy (secrets and all, mode 0600), else one
# holding only the runtime, so that publishing works on a clean machine. Core Tools never
# uploads local.settings.json (nor .funcignore, which says so for older versions), and the zip
# leaves both out.
printf 'local.settings.json\n' > "$app/.funcignore"
python3 - local.settings.json "$app/local.settings.json" <<'PY'
import json, os, sys
own, out = sys.argv[1], sys.argv[2]
key = "FUNCTIONS_WORKER_RUNTIME"
text = json.dumps({"IsEncrypted": False, "Values": {key: "custom"}}, indent=2) + "\n"
if os.path.isfile(own):
    with open(own, encoding="utf-8-sig") as f:
        text = f.read()
    try:
        settings = json.loads(text)
        values = settings.setdefault("Values", {})
        # Core Tools matches the name in any case.
        runtime = next((v for k, v in values.items() if k.upper() == key), None)
    except (ValueError, AttributeError) as e:
        sys.exit(f"error: {own}: not a local.settings.json ({e})")
    if runtime is not None and str(runtime).lower() != "custom":
        print(f"warning: {own}: {key} is {runtime!r}; this app needs 'custom'", file=sys.stderr)
    elif runtime is None and settings.get("IsEncrypted"):
        # An encrypted file cannot take a plain value: copied as it is.
        print(f"warning: {own} is encrypted and sets no {key}: publish with --custom", file=sys.stderr)
    elif runtime is None:
        values[key] = "custom"
        text = json.dumps(settings, indent=2) + "\n"
# Created 0600 from the start: the developer's copy holds secrets.
with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
    f.write(text)
PY

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
