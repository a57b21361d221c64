#!/usr/bin/env bash
# `sealer seal` of a body camera's MP4 (the original copied byte for byte with BLAKE3 + SHA-256 in
# one read, its C2PA sidecar signed from that pass and validated, seal.json + seal.sig) against the
# floor of sealing it, in the same run: `cp` + `b3sum` + `openssl dgst -sha256` of the same file.
# Peak RSS at 100 MB, 1 GB and 8 GB (flat in file size is the goal). With a copy: the same plus an
# access copy (here the original's bytes again) with an embedded manifest, for reference.
# Not a test: nothing here passes or fails. Figures go to docs/benchmarks.md.
#
#   bench/seal.sh [SIZE_MB] [BIG_MB]     (default 1024 and 8192; sources cached under $BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-1024}"
BIG_MB="${2:-8192}"
export RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}/access"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
scripts/setup >/dev/null
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --quiet --release -p sealer -p ingest-worker
BIN="$CARGO_TARGET_DIR/release"
WORK=$(mktemp -d "${BENCH_WORK:-/var/tmp}/evidence-seal-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. bench/lib.sh

"$BIN/sealer" dev-ca --out "$WORK/pki" >/dev/null
seal_cmd() { # $1 file, $2 extra args
  echo "$BIN/sealer seal --device CAM1 --officer OF1 --report $WORK/report-$(basename "$1").json --cert $WORK/pki/signer.chain.pem --key $WORK/pki/signer.key.pem --out $WORK/out ${2:-} $1"
}
prepare() { "$BIN/ingest-worker" scan --json "$1" > "$WORK/report-$(basename "$1").json"; }

FILE="$BENCH_DIR/OF3001_20261128080000_0001-${SIZE_MB}MB.MP4"
SMALL="$BENCH_DIR/OF3001_20261128080000_0002-100MB.MP4"
body_camera_mp4 "$SIZE_MB" "$FILE"
body_camera_mp4 100 "$SMALL"
BYTES=$(stat -c %s "$FILE")
prepare "$FILE"; prepare "$SMALL"
cat "$FILE" >/dev/null

read -r t_floor _ < <(best "cp $FILE $WORK/floor.mp4 && b3sum $FILE && openssl dgst -sha256 $FILE" "rm -f $WORK/floor.mp4")
read -r t_seal rss_seal < <(best "$(seal_cmd "$FILE")" "rm -rf $WORK/out")
pkg=$(find "$WORK/out" -name seal.json -printf '%h\n' | head -1)
"$BIN/sealer" verify --trust "$WORK/pki/ca.cert.pem" "$pkg" > "$WORK/verify.txt" || { cat "$WORK/verify.txt"; exit 1; }
cp "$FILE" "$WORK/copy.mp4"
read -r t_copy rss_copy < <(best "$(seal_cmd "$FILE" "--copy access=$WORK/copy.mp4")" "rm -rf $WORK/out")
rm -f "$WORK/copy.mp4" "$WORK/floor.mp4"
read -r _ rss_small < <(RUNS=1 best "$(seal_cmd "$SMALL")" "rm -rf $WORK/out")
rm -rf "$WORK/out"

printf '\n%s (%.2f GB, H.264 High + AAC MP4), best of %s, warm page cache, %s cores\n' "$(basename "$FILE")" "$(awk "BEGIN{print $BYTES/1e9}")" "$RUNS" "$(nproc)"
printf '%-72s %8s %8s %9s\n' "run" "wall s" "ratio" "peak RSS"
printf '%-72s %8.2f %8.2f %9s\n' "floor: cp + b3sum + openssl dgst -sha256" "$t_floor" 1 "-"
printf '%-72s %8.2f %8.2f %6d MiB\n' "sealer seal (original + sidecar, seal.json, seal.sig)" "$t_seal" "$(awk "BEGIN{print $t_seal / $t_floor}")" "$((rss_seal / 1024))"
printf '%-72s %8.2f %8.2f %6d MiB\n' "sealer seal --copy access=<1 GB MP4> (+ embedded manifest in the copy)" "$t_copy" "$(awk "BEGIN{print $t_copy / $t_floor}")" "$((rss_copy / 1024))"
grep -q "C2PA sidecar manifest valid" "$WORK/verify.txt" && echo "sealer verify --trust: package verified, sidecar valid"

# Peak RSS at 8 GB: a generated file, removed afterwards (it needs 2 x BIG_MB of disk).
BIG="$WORK/OF3001_20261128080000_0003-${BIG_MB}MB.MP4"
body_camera_mp4 "$BIG_MB" "$BIG"
prepare "$BIG"
read -r t_big rss_big < <(RUNS=1 best "$(seal_cmd "$BIG")" "rm -rf $WORK/out")
printf 'peak RSS of sealer seal: %d MiB at 100 MB, %d MiB at %d MB, %d MiB at %d MB (%.1f s for %.2f GB)\n' \
  "$((rss_small / 1024))" "$((rss_seal / 1024))" "$SIZE_MB" "$((rss_big / 1024))" "$BIG_MB" "$t_big" "$(awk "BEGIN{print $(stat -c %s "$BIG")/1e9}")"
