# Shared by scripts/package-azure.sh and scripts/package-lambda.sh (sourced, not run):
# parses `[--target T] [--binary PATH] [--out DIR]`, then builds the binary unless one was given.
# Sets: root (repository), binary (absolute path of the executable to package), dist (output
# directory). The caller passes extra build-release.sh arguments in BUILD_ARGS.

usage() { echo "usage: $0 [--target auto|gnu|gnu-2.17|<triple>] [--binary PATH] [--out DIR]" >&2; exit 2; }

target="auto"
binary=""
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) [[ $# -ge 2 ]] || usage; target="$2"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        --binary) [[ $# -ge 2 ]] || usage; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        --out) [[ $# -ge 2 ]] || usage; out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ -n "$binary" ]] && binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
[[ -n "$out" ]] && { mkdir -p "$out"; out="$(cd "$out" && pwd)"; }
cd "$root"

# Packages never contain the development identity provider: it is the default feature
# `dev-idp`, so build-release.sh turns default features off.
if [[ -z "$binary" ]]; then
    binary="$("$root/scripts/build-release.sh" --target "$target" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"})"
fi
[[ -f "$binary" ]] || { echo "error: $binary: no such file" >&2; exit 1; }
dist="${out:-$root/dist}"
