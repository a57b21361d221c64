#!/usr/bin/env bash
# Benchmark of sealing a ~1 GB 1080p30 H.264/AAC MP4 the way the sealer does it (`sealer seal`:
# the original copied byte for byte with BLAKE3 + SHA-256, its C2PA sidecar signed and validated,
# an embedded manifest signed into a copy with the original as parent ingredient and validated,
# seal.json + seal.sig), against doing the same by hand in the same run:
#   cp original + c2patool sidecar + c2patool embedded copy with --parent + b3sum + sha256sum
# Also: peak RSS at two file sizes (flat in file size is the goal).
# The S3 upload half of the worker's job is not in this comparison (both sides would use the same
# network path; the worker's upload speed is in bench/scan.sh's hashing figures and the e2e tests).
# Not a test: nothing here passes or fails.
#
#   bench/seal.sh [SIZE_MB]     (default 1024; files cached under $BENCH_DIR, made by bench/scan.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-1024}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
RUNS="${RUNS:-2}"
TOOLS=/opt/evidence-tools/bin
scripts/setup >/dev/null
cargo build --quiet --release -p sealer -p ingest-worker
SEALER="$CARGO_TARGET_DIR/release/sealer"
SCAN="$CARGO_TARGET_DIR/release/ingest-worker"
C2PATOOL="${C2PATOOL:-$(command -v c2patool || echo "$TOOLS/c2patool")}"

[ -s "$BENCH_DIR/scan-${SIZE_MB}MB-1080p30.mp4" ] || bench/scan.sh "$SIZE_MB" >/dev/null
[ -s "$BENCH_DIR/scan-256MB-1080p30.mp4" ] || bench/scan.sh 256 >/dev/null
FILE="$BENCH_DIR/scan-${SIZE_MB}MB-1080p30.mp4"
WORK="$BENCH_DIR/seal"
rm -rf "$WORK" && mkdir -p "$WORK"
PKI="$WORK/pki"
"$SEALER" dev-ca --out "$PKI" >/dev/null

measure() { # best-of-N wall time (s) and max RSS (KiB) of a command line; $2 runs before each try
  local best="" rss=0 out
  for _ in $(seq "$RUNS"); do
    bash -c "${2:-true}"
    /usr/bin/time -o "$WORK/.time" -f "%e %M" bash -c "{ $1; } >/dev/null 2>&1" || { echo "failed: $1" >&2; exit 1; }
    out=$(tail -1 "$WORK/.time")
    local t=${out% *} m=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$best $rss"
}

ours() { # $1 = file; prints "seconds rss_kib"
  local f=$1 name
  name=$(basename "$f")
  "$SCAN" scan --json "$f" > "$WORK/report-$name.json"
  cp "$f" "$WORK/copy-$name"   # the 'access copy' to sign: same bytes, so both sides embed into 1 GB
  measure "$SEALER seal --device CAM1 --officer OF1 --report $WORK/report-$name.json --copy access=$WORK/copy-$name --cert $PKI/signer.chain.pem --key $PKI/signer.key.pem --out $WORK/ours $f" "rm -rf $WORK/ours"
}

cat "$FILE" > /dev/null
read -r t_ours rss_ours < <(ours "$FILE")
read -r _ rss_small < <(ours "$BENCH_DIR/scan-256MB-1080p30.mp4")
pkg=$(find "$WORK/ours" -name seal.json -printf '%h\n' | head -1)
"$SEALER" verify --trust "$PKI/ca.cert.pem" "$pkg" > "$WORK/verify.txt" || { cat "$WORK/verify.txt"; exit 1; }

BYTES=$(stat -c %s "$FILE")
printf '\nfile: %s (%.2f GB), best of %s runs, warm page cache, %s cores\n' "$FILE" "$(awk "BEGIN{print $BYTES/1e9}")" "$RUNS" "$(nproc)"
printf '%-70s %8s\n' "command" "wall s"
printf '%-70s %8.2f\n' "sealer seal (copy+digests, sidecar, embedded copy, validation, seal.sig)" "$t_ours"

if [ -x "$C2PATOOL" ]; then
  cat > "$WORK/manifest.json" <<EOF
{ "alg": "es256", "private_key": "$PKI/signer.key.pem", "sign_cert": "$PKI/signer.chain.pem",
  "claim_generator_info": [{"name": "bench"}],
  "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created",
    "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}] }
EOF
  cat > "$WORK/manifest-copy.json" <<EOF
{ "alg": "es256", "private_key": "$PKI/signer.key.pem", "sign_cert": "$PKI/signer.chain.pem",
  "claim_generator_info": [{"name": "bench"}],
  "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.transcoded"}]}}] }
EOF
  q=$(printf %q "$FILE")
  by_hand="cp $q $WORK/hand/orig.mp4 && $C2PATOOL $WORK/hand/orig.mp4 -m $WORK/manifest.json -s -o $WORK/hand/orig-sidecar.mp4 -f && $C2PATOOL $WORK/copy-$(basename "$FILE") -m $WORK/manifest-copy.json -p $WORK/hand/orig.mp4 -o $WORK/hand/access.mp4 -f && b3sum $WORK/hand/orig.mp4 $WORK/hand/access.mp4 $WORK/hand/*.c2pa && sha256sum $WORK/hand/orig.mp4 $WORK/hand/access.mp4 $WORK/hand/*.c2pa"
  read -r t_hand rss_hand < <(measure "$by_hand" "rm -rf $WORK/hand && mkdir -p $WORK/hand")
  printf '%-70s %8.2f\n' "by hand: cp + c2patool -s + c2patool -p (embed) + b3sum + sha256sum" "$t_hand"
  printf '\nratio sealer / by hand = %.2f   (goal <= 1.0)\n' "$(awk "BEGIN{print $t_ours / $t_hand}")"
  printf 'peak RSS by hand (c2patool) = %d MiB\n' "$(( rss_hand / 1024 ))"
else
  printf '\nc2patool not installed (cargo install c2patool@0.27.22 --locked --root /opt/evidence-tools, ~17 min): no ratio\n'
fi
printf 'peak RSS of sealer seal = %d MiB at %d MB, %d MiB at 256 MB (goal: flat)\n' \
  "$(( rss_ours / 1024 ))" "$SIZE_MB" "$(( rss_small / 1024 ))"
