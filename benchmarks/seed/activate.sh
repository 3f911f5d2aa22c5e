#!/usr/bin/env bash
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The seed example's activation script, kept as the benchmark baseline: one device of type
# TYPE (default mydevice) with id DEVID (default 0, the seed's only id) for domU DOMU_ID, one
# xenstore-write / xenstore-chmod process per key, exactly in the seed's order (frontend keys,
# backend keys, chmod of the backend dir to "r", frontend state, backend state last).
# It keeps the seed's defects on purpose (no transaction, "r" perms on one node, state
# rewritten on a live device): it is what the collection replaces, not something to use.
# Usage: activate.sh DOMU_ID [DEVID [TYPE]]   (XENSTORED_PATH selects the daemon)
set -e
DOMU_ID=$1
DEVID=${2:-0}
TYPE=${3:-mydevice}
FRONTEND=/local/domain/$DOMU_ID/device/$TYPE/$DEVID
BACKEND=/local/domain/0/backend/$TYPE/$DOMU_ID/$DEVID

xenstore-write "$FRONTEND/backend-id" 0
xenstore-write "$FRONTEND/backend" "$BACKEND"
xenstore-write "$BACKEND/frontend-id" "$DOMU_ID"
xenstore-write "$BACKEND/frontend" "$FRONTEND"
xenstore-chmod "$BACKEND" r
xenstore-write "$FRONTEND/state" 1
xenstore-write "$BACKEND/state" 1
