#!/bin/sh
# refresh-hlsjs.sh: vendors hls.js from the npm registry into
# webui/static/vendor/hls/ (embedded in the binary, so the pages need no
# Node and no CDN at run time). Run it from anywhere to change the version:
#
#   webui/vendor/refresh-hlsjs.sh [version]
#
# It keeps dist/hls.min.js (the UMD build: a classic script that defines
# window.Hls) and the package's LICENSE, and writes VERSION. npm pack fetches
# the registry's tarball without running any install script.
set -eu

version=${1:-1.7.4}
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/../static/vendor/hls"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball=$(cd "$work" && npm pack --silent "hls.js@$version")
tar -xzf "$work/$tarball" -C "$work" package/dist/hls.min.js package/LICENSE package/package.json
got=$(node -p "require(process.argv[1]).version" "$work/package/package.json")
if [ "$got" != "$version" ]; then
	echo "refresh-hlsjs: asked for $version, npm gave $got" >&2
	exit 1
fi

mkdir -p "$dest"
cp "$work/package/dist/hls.min.js" "$dest/hls.min.js"
cp "$work/package/LICENSE" "$dest/LICENSE"
printf 'hls.js %s from the npm registry (npm pack hls.js@%s), dist/hls.min.js; Apache-2.0, see LICENSE.\n' "$version" "$version" >"$dest/VERSION"
echo "vendored hls.js $version into $dest"
