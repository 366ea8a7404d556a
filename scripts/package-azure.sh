#!/usr/bin/env bash
# Builds the Azure Functions custom-handler package:
#   dist/azure/               host.json, one folder per function, the `entra-sso` binary
#                             (plus a copy of ./local.settings.json, if any, for `func start`)
#   dist/entra-sso-azure.zip  the same tree without local settings, for zip deploy
#
# Usage: scripts/package-azure.sh [--target <triple>]
#   --target  build for a cross target, e.g. x86_64-unknown-linux-musl (a static binary
#             that does not depend on the glibc of the Functions image)
set -euo pipefail

usage() { echo "usage: $0 [--target <triple>]" >&2; exit 2; }

target=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) [[ $# -ge 2 ]] || usage; target="$2"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Packages never contain the development identity provider: it is the default feature
# `dev-idp`, so default features are off here.
build=(cargo build --release --no-default-features --locked)
[[ -n "$target" ]] && build+=(--target "$target")
echo "+ ${build[*]}" >&2
"${build[@]}"

# Honour CARGO_TARGET_DIR and workspace layouts: ask cargo where it puts its output.
target_dir="$(cargo metadata --format-version 1 --no-deps --locked \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/${target:+$target/}release/entra-sso"
[[ -f "$bin" ]] || { echo "error: $bin was not built" >&2; exit 1; }

dist="$root/dist"
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
install -m 0755 "$bin" "$app/entra-sso"

# `func start` runs in dist/azure and reads local.settings.json there, so a local copy travels
# along. It never goes into the zip, and .funcignore keeps Core Tools' publish from uploading it.
printf 'local.settings.json\n' > "$app/.funcignore"
if [[ -f local.settings.json ]]; then
    install -m 0600 local.settings.json "$app/"
fi

# Python's zipfile instead of `zip`: it is always at hand, and external_attr carries the
# Unix mode so the binary keeps its run bit when the platform unpacks the archive.
python3 - "$app" "$zip" <<'PY'
import os, stat, sys, zipfile

app, out = sys.argv[1], sys.argv[2]
local_only = {"local.settings.json", ".funcignore"}

with open(os.path.join(app, "entra-sso"), "rb") as f:
    head = f.read(20)
# The App Service Linux workers run x86_64; a binary for another OS or CPU starts nowhere.
if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 62:
    print("warning: entra-sso is not a Linux x86_64 (ELF x86-64) executable; "
          "Azure Functions on Linux will not start it", file=sys.stderr)

with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for dirpath, dirnames, filenames in os.walk(app):
        dirnames.sort()
        for name in sorted(filenames):
            if dirpath == app and name in local_only:
                continue
            path = os.path.join(dirpath, name)
            info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, app))
            info.create_system = 3  # Unix, so unzip tools read the mode bits below
            info.external_attr = (stat.S_IFREG | stat.S_IMODE(os.stat(path).st_mode)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                z.writestr(info, f.read())
PY

echo
echo "package:"
(cd "$dist" && find azure -type f | sort | while read -r f; do
    printf '  %-36s %10s bytes\n' "dist/$f" "$(wc -c < "$f" | tr -d ' ')"
done)
printf '  %-36s %10s bytes\n' "dist/$(basename "$zip")" "$(wc -c < "$zip" | tr -d ' ')"
