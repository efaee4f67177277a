#!/bin/sh
# otj-edge preinstall (deb preinst and rpm %pre): create the system user and group the service
# runs as, before the files are unpacked, so the package's root:otj-edge files get their group.
# Idempotent: upgrades and reinstalls find them in place.
set -e

OTJ_USER=otj-edge
OTJ_HOME=/var/lib/otj-edge

nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false

if ! getent group "$OTJ_USER" >/dev/null 2>&1; then
	if command -v groupadd >/dev/null 2>&1; then
		groupadd --system "$OTJ_USER"
	else
		addgroup --system "$OTJ_USER"
	fi
fi
if ! getent passwd "$OTJ_USER" >/dev/null 2>&1; then
	if command -v useradd >/dev/null 2>&1; then
		useradd --system --gid "$OTJ_USER" --home-dir "$OTJ_HOME" --no-create-home \
			--shell "$nologin" --comment "otj-edge One-Touch Join agent" "$OTJ_USER"
	else
		adduser --system --ingroup "$OTJ_USER" --home "$OTJ_HOME" --no-create-home \
			--shell "$nologin" --gecos "otj-edge One-Touch Join agent" "$OTJ_USER"
	fi
fi
exit 0
