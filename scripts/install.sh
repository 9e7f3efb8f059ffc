#!/bin/sh
# install.sh: installs vault-toolkit from the folder it sits in (an unpacked `cargo xtask dist` tarball, or the
# folder `cargo xtask install` stages) into a prefix: the tools in PREFIX/bin, the policies, systemd units,
# scripts, docs and README in PREFIX/share/vault-toolkit, shell completions and man pages in PREFIX/share.
#
# POSIX sh on purpose: it runs on a fresh VPS that has no Rust and maybe no bash. It is idempotent (a file whose
# content and mode already match is left alone, so a re-run changes nothing), checks the files against
# SHA256SUMS before touching the prefix, and refuses before any change when the prefix is not writable.
#
# The package's bin/ holds one real binary, vault-toolkit, and the eight tools as symbolic links to it (it runs
# the tool it is invoked as). LINKS lists them ("bin/NAME TARGET" per line); SHA256SUMS covers LINKS, so the links
# made come from checked data. A package built with --separate has eight binaries and no LINKS.
set -eu

prog=install.sh

usage() {
  cat <<'USAGE'
Usage: install.sh [--prefix DIR]

Installs vault-toolkit into DIR (default /usr/local):
  DIR/bin                          vault-toolkit (the deployment command) and the eight tools, links to it
  DIR/share/vault-toolkit          policies/, systemd/, scripts/, docs/, README.md
  DIR/share/{bash-completion,zsh,fish,man}   shell completions and man pages of every tool

The systemd units name /usr/local/bin; with another prefix their copies under DIR/share/vault-toolkit/systemd
name DIR instead. Files that already match are left alone; files a previous install put there and this version
no longer ships are removed. Exit codes: 0 installed, 2 usage, 4 failed (not writable, damaged files).
USAGE
}

die() {
  code=$1
  shift
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit "$code"
}

prefix=/usr/local
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || die 2 "--prefix needs a folder"
      prefix=$2
      shift 2
      ;;
    --prefix=*)
      prefix=${1#*=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die 2 "unknown argument: $1 (see --help)" ;;
  esac
done

case $prefix in
  /*) ;;
  *) die 2 "--prefix must be an absolute path, not '$prefix'" ;;
esac
# The prefix is written into systemd units, where whitespace splits words and % starts a specifier, and into a
# sed expression: accept only the characters paths are normally made of.
case $prefix in
  *[!A-Za-z0-9._/+-]*) die 2 "--prefix may contain only letters, digits and . _ / + - (it is written into systemd units): '$prefix'" ;;
esac
# Without trailing slashes; "/" becomes the empty base so that paths read /bin, not //bin.
while :; do
  case $prefix in
    ?*/) prefix=${prefix%/} ;;
    *) break ;;
  esac
done
base=${prefix%/}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
[ -f "$here/SHA256SUMS" ] ||
  die 4 "no SHA256SUMS beside $prog: run it from an unpacked vault-toolkit tarball"

# Verify before touching anything, so a damaged download never installs half a toolkit.
if command -v sha256sum >/dev/null 2>&1; then
  if ! (cd "$here" && sha256sum --quiet --strict -c SHA256SUMS) >&2; then
    die 4 "files in $here do not match SHA256SUMS: the tarball is damaged; download it again"
  fi
else
  printf '%s: warning: sha256sum not found: the files were not checked against SHA256SUMS\n' "$prog" >&2
fi

# Each link must be a tool name in bin/ pointing at a binary of this package in the same folder: checked now, so
# a bad LINKS file changes nothing.
if [ -f "$here/LINKS" ]; then
  while read -r path target; do
    name=${path#bin/}
    case $path:$name in
      bin/*:'' | bin/*:.* | bin/*:*[!A-Za-z0-9._+-]*) die 4 "LINKS: '$path' is not a name in bin/" ;;
      bin/*) ;;
      *) die 4 "LINKS: '$path' is not a name in bin/" ;;
    esac
    case $target in
      '' | .* | *[!A-Za-z0-9._+-]*) die 4 "LINKS: $path points at '$target', not a binary beside it" ;;
    esac
    cut -d ' ' -f 3- "$here/SHA256SUMS" | grep -Fqx -- "bin/$target" ||
      die 4 "LINKS: $path points at '$target', which the package does not hold"
    # A link over one of the package's own files (vault-toolkit itself) would leave no binary to run.
    if cut -d ' ' -f 3- "$here/SHA256SUMS" | grep -Fqx -- "$path"; then
      die 4 "LINKS: $path is a file of the package, not a link"
    fi
  done <"$here/LINKS"
fi

bindir=$base/bin
sharedir=$base/share/vault-toolkit
manifest=$sharedir/MANIFEST
hint="run it as root (sudo $0) or choose another --prefix"
for dir in "$bindir" "$sharedir"; do
  mkdir -p "$dir" 2>/dev/null || die 4 "cannot create $dir: not writable; $hint"
  probe=$dir/.install-probe.$$
  touch "$probe" 2>/dev/null || die 4 "$dir is not writable; $hint"
  rm -f "$probe"
done

installed=0
unchanged=0
removed=0

# install_file SRC DEST MODE: copies SRC to DEST unless DEST already has that content and mode. The copy goes to a
# temporary file beside DEST and is renamed over it, so a tool that is running while it is replaced keeps working
# and DEST is never half-written.
install_file() {
  src=$1
  dest=$2
  mode=$3
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest" && [ -n "$(find "$dest" -prune -perm "$mode")" ]; then
    unchanged=$((unchanged + 1))
    return
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(dirname "$dest")/.$(basename "$dest").install.$$
  cp "$src" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  printf 'installed %s\n' "$dest"
  installed=$((installed + 1))
}

# install_link TARGET DEST: makes DEST a symbolic link to TARGET (a name in DEST's folder) unless it already is
# one. Whatever is there (a separate binary from an older install, a link elsewhere) is replaced by a rename, so
# the name never goes missing for a timer that runs it at that moment.
install_link() {
  target=$1
  dest=$2
  if [ -L "$dest" ] && [ "$(readlink "$dest")" = "$target" ]; then
    unchanged=$((unchanged + 1))
    return
  fi
  if [ -d "$dest" ]; then
    # mv would move the new link into the folder (or the folder a link names) instead of replacing it.
    [ -L "$dest" ] || die 4 "$dest is a folder; remove it and run $prog again"
    rm -f "$dest"
  fi
  tmp=$(dirname "$dest")/.$(basename "$dest").install.$$
  rm -f "$tmp"
  ln -s "$target" "$tmp"
  mv -f "$tmp" "$dest"
  printf 'installed %s -> %s\n' "$dest" "$target"
  installed=$((installed + 1))
}

rendered=$(mktemp)
new_manifest=$(mktemp)
trap 'rm -f "$rendered" "$new_manifest"' EXIT

# SHA256SUMS lists every file of the package ("HASH  PATH"); bin/ and share/vault-toolkit/ are what goes into the
# prefix, laid out as they are here.
while read -r _ path; do
  case $path in
    bin/*)
      install_file "$here/$path" "$base/$path" 755
      ;;
    share/vault-toolkit/systemd/*)
      # The units name the tools by their default location; a unit that points at another prefix's binaries
      # would run an old version or nothing.
      if [ "$base" = /usr/local ]; then
        install_file "$here/$path" "$base/$path" 644
      else
        sed "s|/usr/local/|$base/|g" "$here/$path" >"$rendered"
        install_file "$rendered" "$base/$path" 644
      fi
      ;;
    share/vault-toolkit/scripts/*)
      install_file "$here/$path" "$base/$path" 755
      ;;
    share/vault-toolkit/*)
      install_file "$here/$path" "$base/$path" 644
      ;;
    share/bash-completion/completions/* | share/zsh/site-functions/* | share/fish/vendor_completions.d/* | share/man/man1/*)
      # Shell completions and man pages, where bash-completion, zsh, fish and man look under a prefix.
      install_file "$here/$path" "$base/$path" 644
      ;;
    *) continue ;;
  esac
  printf '%s\n' "$path" >>"$new_manifest"
done <"$here/SHA256SUMS"

# After the binaries, so a link never points at a file not yet there.
if [ -f "$here/LINKS" ]; then
  while read -r path target; do
    install_link "$target" "$base/$path"
    printf '%s\n' "$path" >>"$new_manifest"
  done <"$here/LINKS"
fi

# Files an earlier version installed and this one no longer ships would linger (an old unit, a renamed doc).
if [ -f "$manifest" ]; then
  while read -r path; do
    if ! grep -Fqx -- "$path" "$new_manifest" && { [ -f "$base/$path" ] || [ -L "$base/$path" ]; }; then
      rm -f "$base/$path"
      printf 'removed %s\n' "$base/$path"
      removed=$((removed + 1))
    fi
  done <"$manifest"
fi
install_file "$new_manifest" "$manifest" 644

printf '%s: %d installed, %d unchanged, %d removed in %s\n' "$prog" "$installed" "$unchanged" "$removed" "${base:-/}" >&2
case ":${PATH:-}:" in
  *":$bindir:"*) ;;
  *) printf '%s: note: %s is not on PATH\n' "$prog" "$bindir" >&2 ;;
esac
