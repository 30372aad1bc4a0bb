#!/usr/bin/env bash
# A throwaway single-node Ceph (Debian bookworm's Ceph 16) with one in-memory OSD and radosgw on
# 127.0.0.1:${RGW_PORT}: a production S3 implementation for media's test suite and benchmark, with no Docker.
#   infra/ceph-rgw-up.sh          start (about 12 s); prints the endpoint and keys
#   infra/ceph-rgw-up.sh stop     stop every daemon it started and delete its directory
# Needs: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
# Settings (env): CEPH_DIR (/tmp/stagedoor-ceph), RGW_PORT (7480), CEPH_MON_PORT (3300), S3_ACCESS_KEY_ID (TESTKEY),
# S3_SECRET_ACCESS_KEY (TESTSECRET), MEMSTORE_BYTES (2 GiB: the OSD keeps every object in RAM).
# Why each unusual setting is here (each one was found by trying, see FACTS.md):
#   - ms bind msgr1 = false, ms (mon) client mode = crc secure: without them radosgw hangs 300 s then exits;
#   - mon allow pool size one / pool size 1 / chooseleaf type 0: one OSD must be enough for a healthy pool;
#   - beast with tcp_nodelay=1: without it small range reads take ~45 ms (Nagle + delayed ACK).
set -euo pipefail
C=${CEPH_DIR:-/tmp/stagedoor-ceph}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${CEPH_MON_PORT:-3300}
AK=${S3_ACCESS_KEY_ID:-TESTKEY}
SK=${S3_SECRET_ACCESS_KEY:-TESTSECRET}

stop() {
  if [ -d "$C/run" ]; then
    for f in "$C"/run/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
    done
    for f in "$C"/run/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$C"
}

if [ "${1:-}" = stop ]; then
  stop
  echo "ceph stopped"
  exit 0
fi

for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
  command -v "$bin" >/dev/null || {
    echo "$bin not found: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" >&2
    exit 1
  }
done
if curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/"; then
  echo "port $RGW_PORT already answers; stop that first (infra/ceph-rgw-up.sh stop)" >&2
  exit 1
fi

stop
mkdir -p "$C"/{run,log,mon,osd/ceph-0}
cd "$C"
FSID=$(cat /proc/sys/kernel/random/uuid)
cat >ceph.conf <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
ms client mode = crc secure
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES:-2147483648}
run dir = $C/run
admin socket = $C/run/\$name.asok
log file = $C/log/\$name.log
pid file = $C/run/\$name.pid
mon data = $C/mon/\$cluster-\$id
osd data = $C/osd/\$cluster-\$id
keyring = $C/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
CONF
export CEPH_CONF=$C/ceph.conf
ceph-authtool --create-keyring keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$FSID" monmap >/dev/null
ceph-mon --mkfs -i a --monmap monmap --keyring keyring
ceph-mon -i a
OSDUUID=$(cat /proc/sys/kernel/random/uuid)
timeout 30 ceph osd new "$OSDUUID" 0 >/dev/null
ceph-osd -i 0 --mkfs --osd-uuid "$OSDUUID" 2>/dev/null
ceph-osd -i 0 2>/dev/null
radosgw -n client.rgw.a
for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" || { echo "radosgw did not come up; see $C/log" >&2; exit 1; }
timeout 30 radosgw-admin user create --uid=test --display-name=test --access-key="$AK" --secret="$SK" >/dev/null 2>&1
echo "radosgw ready: S3_ENDPOINT=http://127.0.0.1:$RGW_PORT S3_ACCESS_KEY_ID=$AK S3_SECRET_ACCESS_KEY=$SK"
echo "stop with: infra/ceph-rgw-up.sh stop"
