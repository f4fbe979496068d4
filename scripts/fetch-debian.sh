#!/usr/bin/env bash
# Download pinned packages from Debian $DEBIAN_SUITE (trixie-backports) into
# the cache, WITHOUT installing anything: apt-get download against a one-off
# source list and state directory under $IMP2_CACHE.  Every package must be
# at $DEBIAN_KERNEL_VERSION (scripts/versions.env).  Idempotent: a cached
# .deb is reused without touching the network.  Prints each .deb's path.
#
#   fetch-debian.sh PKG...      e.g. fetch-debian.sh linux-source-7.3
set -euo pipefail
. "$(dirname "$0")/lib.sh"
(( $# )) || die "usage: $0 PKG..."

APT_DIR=$IMP2_CACHE/apt-$DEBIAN_SUITE
DEB_DIR=$IMP2_CACHE/debs
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$DEB_DIR"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg   # holds the trixie keys
[[ -f $KEYRING ]] || die "$KEYRING missing: apt-get install debian-archive-keyring"
echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $DEBIAN_SUITE main" >"$APT_DIR/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
	-o APT::Architecture=amd64 -o Debug::NoLocking=1)

# apt-get download names files PKG_VERSION_ARCH.deb with ':' escaped as %3a.
cached() { compgen -G "$DEB_DIR/${1}_${DEBIAN_KERNEL_VERSION//:/%3a}_*.deb" | head -n1; }

# One fetch at a time: concurrent legs share the lists and the download dir.
exec {lock_fd}>"$IMP2_CACHE/debs.lock"
flock "$lock_fd"
updated=0
for pkg in "$@"; do
	if f=$(cached "$pkg") && [[ $f ]]; then echo "$f"; continue; fi
	if (( ! updated )); then
		run_long "apt-get update ($DEBIAN_SUITE, one-off lists in $APT_DIR)" "$IMP2_CACHE/logs/apt-$DEBIAN_SUITE.log" \
			apt-get "${APT_OPTS[@]}" update ||
			die "apt-get update for $DEBIAN_SUITE failed: check access to deb.debian.org"
		updated=1
	fi
	avail=$(apt-cache "${APT_OPTS[@]}" madison "$pkg" 2>/dev/null | awk -F' *[|] *' '{print $2}' | tr '\n' ' ')
	if [[ " $avail " != *" $DEBIAN_KERNEL_VERSION "* ]]; then
		[[ $avail ]] || {
			# ABI-named packages (linux-image-7.3.4+deb13-amd64) change name with the version.
			now=$(apt-cache "${APT_OPTS[@]}" madison linux-source-7.3 2>/dev/null | awk -F' *[|] *' 'NR==1 {print $2}')
			die "$pkg is not in Debian $DEBIAN_SUITE (pinned DEBIAN_KERNEL_VERSION=$DEBIAN_KERNEL_VERSION).${now:+ The archive now has $now: set DEBIAN_KERNEL_VERSION=$now in scripts/versions.env.}"
		}
		die "$pkg $DEBIAN_KERNEL_VERSION is gone from Debian $DEBIAN_SUITE, which now has: $avail-- set DEBIAN_KERNEL_VERSION=${avail%% *} in scripts/versions.env"
	fi
	(cd "$DEB_DIR" && run_long "download $pkg $DEBIAN_KERNEL_VERSION" "$IMP2_CACHE/logs/download-$pkg.log" \
		apt-get "${APT_OPTS[@]}" download "$pkg=$DEBIAN_KERNEL_VERSION") ||
		die "apt-get download $pkg=$DEBIAN_KERNEL_VERSION failed: see $IMP2_CACHE/logs/download-$pkg.log"
	f=$(cached "$pkg") && [[ $f ]] || die "downloaded $pkg but found no .deb in $DEB_DIR"
	echo "$f"
done
