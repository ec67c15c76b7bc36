#!/usr/bin/env bash
# content=vtest: OpenCV's filmed sample clip (a street from a first floor, 768x576, 795 frames at
# 10 fps) into the asset cache, where nst finds it by name like the manifest's images.
#
#   scripts/fetch_clip.sh     (make clip)
#
# From the manifest's url when it can be reached; else, offline, from Debian's opencv-doc package
# (apt-get download, as any user; nothing installed), which ships the same file among its examples.
# Either copy must match the manifest's sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=assets/manifest.yaml
field() { awk -v key="$1" '/^  vtest:/{on=1; next} /^  [a-z_]+:/{on=0} on && $1==key":" {print $2}' "$MANIFEST"; }
FILE=$(field file) URL=$(field url) SHA=$(field sha256)
[ -n "$FILE" ] && [ -n "$URL" ] && [ -n "$SHA" ] || { echo "fetch_clip: no vtest entry in $MANIFEST" >&2; exit 2; }
DEST="${NST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nst}/assets"
if [ -f "$DEST/$FILE" ] && echo "$SHA  $DEST/$FILE" | sha256sum -c --status; then
    echo "fetch_clip: $DEST/$FILE (already there)"; exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if curl -fsSL --max-time 120 -o "$TMP/$FILE" "$URL" 2>/dev/null; then
    echo "fetch_clip: downloaded $URL"
elif command -v apt-get >/dev/null; then
    echo "fetch_clip: $URL unreachable; taking it from Debian's opencv-doc (a ~95 MB download)"
    (cd "$TMP" && apt-get download -q opencv-doc >/dev/null 2>&1) || { echo "fetch_clip: apt-get download opencv-doc failed" >&2; exit 2; }
    dpkg-deb --fsys-tarfile "$TMP"/opencv-doc_*.deb | tar -xO "./usr/share/doc/opencv-doc/examples/data/$FILE" > "$TMP/$FILE"
else
    echo "fetch_clip: $URL unreachable and no apt-get here: copy $FILE (sha256 $SHA) into $DEST" >&2; exit 2
fi
echo "$SHA  $TMP/$FILE" | sha256sum -c --status || { echo "fetch_clip: $FILE does not match the manifest's sha256" >&2; exit 2; }
mkdir -p "$DEST"
mv "$TMP/$FILE" "$DEST/$FILE"
echo "fetch_clip: $DEST/$FILE"
