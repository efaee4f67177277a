#!/bin/sh
# pkgversion.sh DESCRIBE [COMMITS]: turns the version stamped into the binary (`git describe
# --tags --always --dirty`, a leading v allowed) into a package version that dpkg and rpm both
# order correctly and that rpm accepts (no "-"):
#   v1.2.3               -> 1.2.3
#   v1.2.3-rc.1          -> 1.2.3~rc.1          (a pre-release sorts before the release)
#   v1.2.3-4-gabc1234    -> 1.2.3+git4.abc1234  (commits after a tag sort after it)
#   abc1234 (no tag yet) -> 0.0.0+gitCOMMITS.abc1234
#   any of them -dirty   -> ... with .dirty (or +dirty) appended
#   dev                  -> 0.0.0+dev
set -eu

describe=${1:-dev}
commits=${2:-0}
v=${describe#v}
dirty=
case "$v" in
*-dirty) dirty=dirty; v=${v%-dirty} ;;
esac

semver='[0-9]+\.[0-9]+\.[0-9]+'
if [ "$v" = dev ]; then
	out=0.0.0+dev
elif echo "$v" | grep -Eq "^$semver(-[0-9A-Za-z.]+)?(-[0-9]+-g[0-9a-f]+)?\$"; then
	base=$(echo "$v" | sed -E "s/^($semver).*/\1/")
	rest=${v#"$base"}
	post=
	if echo "$rest" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
		post=$(echo "$rest" | sed -E 's/.*-([0-9]+)-g([0-9a-f]+)$/git\1.\2/')
		rest=$(echo "$rest" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
	fi
	out=$base
	[ -n "$rest" ] && out="$out~${rest#-}"
	[ -n "$post" ] && out="$out+$post"
elif echo "$v" | grep -Eq '^[0-9a-f]{4,40}$'; then
	case "$commits" in
	'' | *[!0-9]*)
		echo "pkgversion.sh: commit count must be a number, got '$commits'" >&2
		exit 2
		;;
	esac
	out="0.0.0+git$commits.$v"
else
	echo "pkgversion.sh: cannot make a package version from '$describe' (tag releases as vMAJOR.MINOR.PATCH)" >&2
	exit 2
fi
if [ -n "$dirty" ]; then
	case "$out" in
	*+*) out="$out.dirty" ;;
	*) out="$out+dirty" ;;
	esac
fi
echo "$out"
