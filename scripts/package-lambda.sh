#!/usr/bin/env bash
# Builds the AWS Lambda package (custom runtime provided.al2023, x86_64):
#   dist/lambda/bootstrap       the executable the runtime starts (mode 0755)
#   dist/entra-sso-lambda.zip   `bootstrap` alone at the zip root, mode 0755
#
# Usage: scripts/package-lambda.sh [--target auto|gnu|gnu-2.17|<triple>] [--binary PATH] [--out DIR]
#   --target  passed to scripts/build-release.sh (default auto: glibc-2.17 build through
#             cargo-zigbuild when installed, else a native build with a warning)
#   --binary  package this executable instead of building one (no cargo run)
#   --out     output directory instead of dist/
#
# The binary is built with --no-default-features --features lambda: the Lambda adapter is in,
# the dev identity provider is out. Deploy: docs/aws.md.
set -euo pipefail

BUILD_ARGS=(--features lambda)
source "$(dirname "${BASH_SOURCE[0]}")/package-common.sh"
app="$dist/lambda"
zip="$dist/entra-sso-lambda.zip"
rm -rf "$app" "$zip"
mkdir -p "$app"

# The provided.al2023 runtime runs the file named `bootstrap` at the root of the package, with
# no arguments; the binary then serves the Lambda runtime API (AWS_LAMBDA_RUNTIME_API is set).
install -m 0755 "$binary" "$app/bootstrap"
python3 "$root/scripts/package-zip.py" write "$app" "$zip"

echo >&2
python3 "$root/scripts/package-zip.py" check lambda "$zip"

echo
echo "package:"
for f in "$app/bootstrap" "$zip"; do
    printf '  %-52s %10s bytes\n' "${f#"$root"/}" "$(wc -c < "$f" | tr -d ' ')"
done
