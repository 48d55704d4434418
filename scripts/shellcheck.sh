#!/usr/bin/env bash
# Runs shellcheck -x on every shell script of the repository, as make test does.
# Uses the machine's shellcheck, else Debian's package unpacked once into
# .cache/shellcheck (ignored by git); without either it fails, naming what is
# missing, rather than pass having checked nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

shellcheck=$(command -v shellcheck || true)
if [ -z "$shellcheck" ]; then
  shellcheck="$top/.cache/shellcheck/usr/bin/shellcheck"
  if [ ! -x "$shellcheck" ]; then
    echo "shellcheck is missing: unpacking it from Debian's shellcheck package into .cache/shellcheck" >&2
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    # A fresh machine may not have the package lists yet.
    fetch () { (cd "$download" && apt-get download shellcheck >/dev/null 2>&1); }
    if ! { fetch || { apt-get update -qq >/dev/null 2>&1 && fetch; }; } ||
        ! dpkg-deb -x "$download"/shellcheck_*.deb "$top/.cache/shellcheck"; then
      echo "make test: shellcheck is not installed and Debian's shellcheck package could not be unpacked (apt-get download shellcheck): install shellcheck." >&2
      exit 1
    fi
  fi
fi
cd "$top"
git ls-files -z '*.sh' | xargs -0 "$shellcheck" -x
