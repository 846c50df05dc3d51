#!/bin/bash
# vigil evidence worker (gcp.compute.hash_snapshot)
# It runs as the startup script of a short-lived VM in the security project that has the
# evidence disk attached read-only: it streams the disk through sha256sum
# (and, when asked, writes the raw image to Cloud Storage on the way),
# then writes a result object that vigil waits for. It never mounts the
# disk. What to do comes from the instance's metadata:
#   vigil-device    the disk's device (/dev/disk/by-id/google-evidence)
#   vigil-result    gs://BUCKET/OBJECT of the result (JSON)
#   vigil-image     gs://BUCKET/OBJECT of the raw image, or empty
#   vigil-snapshot  the snapshot the disk was made from, for the result
# VIGIL_METADATA_URL overrides the metadata server and VIGIL_DEVICE_WAIT
# the seconds to wait for the device (tests).
set -uo pipefail
MD="${VIGIL_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1/instance/attributes}"

attr() { curl -sf -H "Metadata-Flavor: Google" "$MD/$1"; }

json() { # a JSON string
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

RESULT=$(attr vigil-result) || { echo "vigil worker: no vigil-result in the metadata" >&2; exit 1; }
DEVICE=$(attr vigil-device)
IMAGE=$(attr vigil-image || true)
SNAPSHOT=$(attr vigil-snapshot || true)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
WORK=$(mktemp -d)

finish() { # write the result object; $1 is the JSON body's fields
  printf '{%s,"snapshot":%s,"device":%s,"image":%s,"started":%s,"finished":%s,"worker":%s}\n' "$1" \
    "$(json "$SNAPSHOT")" "$(json "$DEVICE")" "$(json "$IMAGE")" "$(json "$STARTED")" \
    "$(json "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json "$(hostname)")" >"$WORK/result.json"
  gsutil -q cp "$WORK/result.json" "$RESULT"
}

fail() {
  echo "vigil worker: $1" >&2
  finish "\"error\":$(json "$1")"
  exit 1
}

# The device appears some seconds after boot.
for _ in $(seq 1 "${VIGIL_DEVICE_WAIT:-60}"); do
  [ -e "$DEVICE" ] && break
  sleep 1
done
[ -r "$DEVICE" ] || fail "device $DEVICE is not there"

BYTES=$(blockdev --getsize64 "$DEVICE" 2>/dev/null || stat -L -c %s "$DEVICE") || fail "cannot read the size of $DEVICE"

if [ -n "$IMAGE" ]; then
  mkfifo "$WORK/image"
  sha256sum <"$WORK/image" >"$WORK/sum" &
  hasher=$!
  dd if="$DEVICE" bs=4M status=none | tee "$WORK/image" | gsutil -q cp - "$IMAGE" || fail "cannot copy $DEVICE to $IMAGE"
  wait "$hasher" || fail "sha256sum of $DEVICE failed"
else
  dd if="$DEVICE" bs=4M status=none | sha256sum >"$WORK/sum" || fail "cannot read $DEVICE"
fi
SUM=$(cut -d' ' -f1 "$WORK/sum")
[ ${#SUM} -eq 64 ] || fail "sha256sum gave no hash of $DEVICE"
finish "\"sha256\":$(json "$SUM"),\"bytes\":$BYTES"
