#!/usr/bin/env bash
# The Python environment of the Django example, shared by .ci/run, scripts/django-e2e.sh and
# scripts/proxy-e2e.sh: a venv with examples/django/requirements.txt and requirements-test.txt
# (pinned), and the module itself installed as a package (`pip install ./examples/django`, not
# editable), so the e2e runs import what a user's `pip install` gets.
#
# Usage: scripts/django-venv.sh [VENV]
#   VENV  the venv's directory (default: $DJANGO_E2E_VENV, else <cargo target dir>/django-e2e-venv)
# Prints the venv's directory on stdout (and nothing else); progress and errors go to stderr.
# The venv is recreated when the requirements change, and the package reinstalled when its
# files change. Needs python3 with venv (Debian: python3-venv) and the package index.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$root/examples/django"

venv="${1:-${DJANGO_E2E_VENV:-}}"
if [[ -z "$venv" ]]; then
    target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    venv="$target_dir/django-e2e-venv"
fi

log="$(mktemp "${TMPDIR:-/tmp}/django-venv.XXXXXX")"
trap 'rm -f "$log"' EXIT
fail() {
    echo "django-venv: FAILED: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
}
pip() { timeout 600 "$venv/bin/pip" --disable-pip-version-check "$@" >>"$log" 2>&1; }

req_hash="$(cat "$example/requirements.txt" "$example/requirements-test.txt" | sha256sum | cut -c1-16)"
if [[ "$(cat "$venv/.requirements" 2>/dev/null)" != "$req_hash" ]]; then
    echo "django-venv: creating $venv (examples/django/requirements*.txt)" >&2
    [[ ! -e "$venv" || -f "$venv/pyvenv.cfg" ]] || fail "$venv exists and is not a venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >>"$log" 2>&1 || fail "python3 -m venv (Debian: apt-get install python3-venv)"
    pip install --quiet -r "$example/requirements.txt" -r "$example/requirements-test.txt" \
        || fail "pip install -r examples/django/requirements.txt -r requirements-test.txt"
    echo "$req_hash" >"$venv/.requirements"
    rm -f "$venv/.package"
fi

# The package's own files (not the tests, the demo or caches) decide whether to reinstall.
pkg_hash="$(cd "$example" && find pyproject.toml README.md entra_sso_django -type f \
        -not -path '*/tests/*' -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [[ "$(cat "$venv/.package" 2>/dev/null)" != "$pkg_hash" ]]; then
    echo "django-venv: pip install ./examples/django" >&2
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src="$(mktemp -d "${TMPDIR:-/tmp}/entra-sso-django-src.XXXXXX")"
    trap 'rm -f "$log"; rm -rf "$src"' EXIT
    (cd "$example" && tar -cf - --exclude=__pycache__ --exclude='*.pyc' --exclude=build --exclude='*.egg-info' \
        pyproject.toml README.md entra_sso_django) | tar -xf - -C "$src"
    pip install --quiet --no-deps --force-reinstall "$src" || fail "pip install ./examples/django"
    echo "$pkg_hash" >"$venv/.package"
fi

# The installed module, not the source tree, is what a neutral directory imports.
installed="$(cd / && "$venv/bin/python" -c 'import entra_sso_django, os; print(os.path.dirname(entra_sso_django.__file__))')" \
    || fail "the installed entra_sso_django does not import"
case "$installed" in
    "$venv"/*) ;;
    *) fail "entra_sso_django imports from $installed, not from the venv" ;;
esac
[[ -f "$installed/migrations/0001_initial.py" ]] || fail "the installed package lacks its migrations"
echo "$venv"
