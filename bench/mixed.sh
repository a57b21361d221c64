#!/usr/bin/env bash
# The whole pipeline's media-hours per wall-hour on this node (2 cores, release build, one of each
# worker, dev-s3 and nats-server on the same node) for a realistic mix by media duration:
#   70 % body cameras: H.264 High + AAC in MP4 (playable: served as they are),
#   20 % fixed cameras: H.264 + AAC in MPEG-TS (remuxed into MP4, verified picture for picture),
#   10 % H.265 in MP4 (transcoded to the H.264 access profile),
# ten 60 s 1080p30 recordings pushed at once, each from its own device, timed from the first push to
# the last sealed event. `bench/mixed.sh before` runs the same mix under the policy of before #17 (an
# access copy transcoded for every recording: playable_original = "copy", no remux).
# Not a test: nothing here passes or fails. Figures go to docs/benchmarks.md and docs/sizing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-after}"
TOOLS="${EVIDENCE_TOOLS:-/opt/evidence-tools}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}/access"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
scripts/setup >/dev/null
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --quiet --release -p ingest-worker -p transcoder -p sealer -p station -p dev-s3
BIN="$CARGO_TARGET_DIR/release"
WORK=$(mktemp -d /var/tmp/evidence-mixed-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. bench/lib.sh

CLIP=$(body_camera_clip)
TS="$BENCH_DIR/clip-60s-1080p30.ts"
[ -s "$TS" ] || ffmpeg -v error -y -i "$CLIP" -c copy "$TS"
HEVC="$BENCH_DIR/clip-60s-1080p30-hevc.mp4"
[ -s "$HEVC" ] || ffmpeg -v error -y -i "$CLIP" -c:v libx265 -preset ultrafast -b:v 6M -x265-params log-level=error -c:a copy "$HEVC"
mkdir -p "$WORK/in"
FILES=()
for i in 1 2 3 4 5 6 7; do cp "$CLIP" "$WORK/in/OF3001_202611280${i}0000_000$i.MP4"; FILES+=("$WORK/in/OF3001_202611280${i}0000_000$i.MP4"); done
for i in 8 9; do cp "$TS" "$WORK/in/OF3002_202611280${i}0000_000$i.TS"; FILES+=("$WORK/in/OF3002_202611280${i}0000_000$i.TS"); done
cp "$HEVC" "$WORK/in/OF3003_20261128100000_0010.MP4"; FILES+=("$WORK/in/OF3003_20261128100000_0010.MP4")
MEDIA_S=0
for f in "${FILES[@]}"; do
  d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
  MEDIA_S=$(awk "BEGIN{print $MEDIA_S + $d}")
done

policy=""
[ "$MODE" = before ] && policy=$'[policy.access]\nplayable_original = "copy"\nremux_containers = []'
start_pipeline "$policy"
t0=$(date +%s.%N)
n=0
for f in "${FILES[@]}"; do
  n=$((n + 1))
  "$BIN/station" push --config "$WORK/common.toml" --station st-bench --device "CAM-MIX-$n" --officer OF3001 --wait "$f" \
    >"$WORK/sealed-$n.json" 2>"$WORK/logs/push-$n.log" & PUSHES+=($!)
done
for p in "${PUSHES[@]}"; do wait "$p" || { echo "a push failed; logs:" >&2; tail -n 20 "$WORK"/logs/*.log >&2; exit 1; }; done
t1=$(date +%s.%N)
hwm() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
r_ingest=$(hwm "$P_INGEST"); r_trans=$(hwm "$P_TRANS"); r_seal=$(hwm "$P_SEAL")
summary=$(cat "$WORK"/sealed-*.json | python3 -c '
import json, sys, collections
c = collections.Counter()
for line in sys.stdin:
    if line.strip():
        e = json.loads(line); a = e.get("access") or {}
        c[a.get("made_by") or a.get("of", "none")] += 1
print(", ".join(f"{k} {v}" for k, v in sorted(c.items())))')
wall=$(awk "BEGIN{print $t1 - $t0}")
printf '\nmixed load (%s policy): %d recordings, %.0f s of 1080p30 media (7 MP4 H.264+AAC, 2 MPEG-TS H.264+AAC, 1 MP4 H.265), %s cores\n' \
  "$MODE" "${#FILES[@]}" "$MEDIA_S" "$(nproc)"
printf 'access renditions: %s\n' "$summary"
printf 'wall %.1f s from the first push to the last sealed event: %.1f media-hours per wall-hour\n' "$wall" "$(awk "BEGIN{print $MEDIA_S / $wall}")"
printf 'peak RSS (VmHWM): ingest-worker %s MiB, transcoder %s MiB, sealer %s MiB\n' "$r_ingest" "$r_trans" "$r_seal"
