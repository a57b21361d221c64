#!/usr/bin/env bash
# The access policy's cost, measured against reference tools in the same run (release build):
#   1. remux of H.264 + AAC in MPEG-TS into a faststart MP4: `transcoder transcode --profile
#      access-remux` (scan, remux, verification picture for picture) and its GStreamer pipeline
#      alone, against `ffmpeg -c copy -movflags +faststart`;
#   2. a ~1 GB body-camera MP4 (H.264 High + AAC, playable: no copy is made) pushed through the
#      whole pipeline (station push → ingest → transcoder → sealer → sealed), against the floor of
#      reading it and hashing it (`cat` + `b3sum` + `openssl dgst -sha256`), with each worker's peak
#      RSS (VmHWM).
# Not a test: nothing here passes or fails. Figures go to docs/benchmarks.md.
#
#   bench/access.sh [SIZE_MB]     (default 1024; sources cached under $BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-1024}"
RUNS="${RUNS:-3}"
TOOLS="${EVIDENCE_TOOLS:-/opt/evidence-tools}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}/access"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
scripts/setup >/dev/null
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --quiet --release -p ingest-worker -p transcoder -p sealer -p station -p dev-s3
BIN="$CARGO_TARGET_DIR/release"
mkdir -p "$BENCH_DIR"
WORK=$(mktemp -d /tmp/evidence-access-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# A 60 s 1080p30 body-camera clip: H.264 High ~8 Mbit/s (noise keeps the encoder honest) + AAC.
CLIP="$BENCH_DIR/clip-60s-1080p30.mp4"
if [ ! -s "$CLIP" ]; then
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=60" -vf "noise=alls=10:allf=t" \
    -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -b:v 8M -maxrate 8M -bufsize 8M -g 60 \
    -c:a aac -b:a 128k "$CLIP"
fi
TS="$BENCH_DIR/clip-60s-1080p30.ts"
[ -s "$TS" ] || ffmpeg -v error -y -i "$CLIP" -c copy "$TS"

best() { # best-of-RUNS wall seconds of a command line
  local b="" t
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$WORK/.time" -f "%e" bash -c "$1" >/dev/null 2>"$WORK/.err" || { cat "$WORK/.err" >&2; exit 1; }
    t=$(tail -1 "$WORK/.time")
    if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
  done
  echo "$b"
}

cat "$TS" >/dev/null
t_ffmpeg=$(best "ffmpeg -v error -y -i $TS -c copy -movflags +faststart $WORK/ff.mp4")
t_gst=$(best "gst-launch-1.0 -q filesrc location=$TS ! parsebin name=p p. ! video/x-h264 ! h264parse ! h264timestamper ! video/x-h264,stream-format=avc,alignment=au ! queue ! mux. p. ! audio/mpeg ! aacparse ! queue ! mux. mp4mux name=mux faststart=true faststart-file=$WORK/gst.moov ! filesink location=$WORK/gst.mp4")
t_ours=$(best "$BIN/transcoder transcode --profile access-remux $TS $WORK/ours.mp4 && rm -f $WORK/ours.mp4")
printf '\nremux of %s (%s MB, 60 s 1080p30 H.264 + AAC in MPEG-TS), best of %s, %s cores\n' "$(basename "$TS")" "$(( $(stat -c %s "$TS") / 1000000 ))" "$RUNS" "$(nproc)"
printf '%-64s %8s %8s\n' "run" "wall s" "ratio"
printf '%-64s %8.2f %8.2f\n' "ffmpeg -c copy -movflags +faststart" "$t_ffmpeg" 1
printf '%-64s %8.2f %8.2f\n' "the access-remux pipeline alone (gst-launch-1.0)" "$t_gst" "$(awk "BEGIN{print $t_gst / $t_ffmpeg}")"
printf '%-64s %8.2f %8.2f\n' "transcoder transcode --profile access-remux (scan+remux+verify)" "$t_ours" "$(awk "BEGIN{print $t_ours / $t_ffmpeg}")"

# ~SIZE_MB of body-camera MP4: the clip concatenated (stream copy, one valid MP4).
BIG="$BENCH_DIR/OF3001_20261128080000_0001-${SIZE_MB}MB.MP4"
if [ ! -s "$BIG" ]; then
  n=$(( SIZE_MB * 1000000 / $(stat -c %s "$CLIP") + 1 ))
  for _ in $(seq "$n"); do echo "file '$CLIP'"; done > "$WORK/list.txt"
  ffmpeg -v error -y -f concat -safe 0 -i "$WORK/list.txt" -c copy "$BIG"
fi
BYTES=$(stat -c %s "$BIG")
cat "$BIG" >/dev/null
t_floor=$(best "cat $BIG >/dev/null; b3sum $BIG; openssl dgst -sha256 $BIG")

mkdir -p "$WORK/nats" "$WORK/s3" "$WORK/logs"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
"$TOOLS/bin/nats-server" -js -a 127.0.0.1 -p 4323 --store_dir "$WORK/nats" >"$WORK/logs/nats.log" 2>&1 & PIDS+=($!)
"$BIN/dev-s3" --host 127.0.0.1 --port 9101 --access-key bench --secret-key bench-secret "$WORK/s3" >"$WORK/logs/s3.log" 2>&1 & PIDS+=($!)
for port in 4323 9101; do for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done; done
printf '[nats]\nurl = "nats://127.0.0.1:4323"\n[s3]\nendpoint = "http://127.0.0.1:9101"\n' > "$WORK/common.toml"
{ cat "$WORK/common.toml"; printf '[ingest]\nspool_dir = "%s"\n' "$WORK/spool-i"; } > "$WORK/ingest.toml"
{ cat "$WORK/common.toml"; printf '[transcode]\nspool_dir = "%s"\n' "$WORK/spool-t"; } > "$WORK/transcoder.toml"
{ cat "$WORK/common.toml"; printf '[seal]\ndev_identity_dir = "%s"\nspool_dir = "%s"\n' "$WORK/pki" "$WORK/spool-s"; } > "$WORK/sealer.toml"
METRICS_ADDR=127.0.0.1:9581 "$BIN/ingest-worker" run --config "$WORK/ingest.toml" >"$WORK/logs/ingest.log" 2>&1 & PIDS+=($!); P_INGEST=$!
METRICS_ADDR=127.0.0.1:9582 "$BIN/transcoder" run --config "$WORK/transcoder.toml" >"$WORK/logs/transcoder.log" 2>&1 & PIDS+=($!); P_TRANS=$!
METRICS_ADDR=127.0.0.1:9583 "$BIN/sealer" run --config "$WORK/sealer.toml" >"$WORK/logs/sealer.log" 2>&1 & PIDS+=($!); P_SEAL=$!
for log in "$WORK"/logs/{ingest,transcoder,sealer}.log; do
  for _ in $(seq 300); do grep -q consuming "$log" 2>/dev/null && break; sleep 0.1; done
done
rchar() { awk '/^rchar/ {print $2}' "/proc/$1/io"; }
read -r io_ingest io_trans io_seal < <(echo "$(rchar "$P_INGEST") $(rchar "$P_TRANS") $(rchar "$P_SEAL")")
t0=$(date +%s.%N)
"$BIN/station" push --config "$WORK/common.toml" --station st-bench --device CAM-BENCH --officer OF3001 --wait "$BIG" \
  >"$WORK/sealed.json" 2>"$WORK/logs/push.log" || {
  echo "push failed; logs:" >&2
  tail -n 20 "$WORK"/logs/*.log >&2
  exit 1
}
t1=$(date +%s.%N)
hwm() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
r_ingest=$(hwm "$P_INGEST"); r_trans=$(hwm "$P_TRANS"); r_seal=$(hwm "$P_SEAL")
# Bytes each worker read during the run (read(2) of files and sockets: /proc/PID/io rchar), in
# units of the recording's size.
reads() { awk "BEGIN{printf \"%.2f\", ($(rchar "$1") - $2) / $BYTES}"; }
x_ingest=$(reads "$P_INGEST" "$io_ingest"); x_trans=$(reads "$P_TRANS" "$io_trans"); x_seal=$(reads "$P_SEAL" "$io_seal")
access=$(python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); a=e.get("access") or {}; print(a.get("of","-"), sum(1 for o in e["objects"] if o["role"]=="derivative"))' "$WORK/sealed.json")
for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
wait 2>/dev/null || true
wall=$(awk "BEGIN{print $t1 - $t0}")
printf '\n%s MB body-camera MP4 (H.264 High + AAC, %s s of media) pushed through the pipeline (station push --wait → sealed event)\n' \
  "$((BYTES / 1000000))" "$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$BIG" | cut -d. -f1)"
printf '%-64s %8s %8s\n' "run" "wall s" "ratio"
printf '%-64s %8.2f %8.2f\n' "floor: cat + b3sum + openssl dgst -sha256" "$t_floor" 1
printf '%-64s %8.2f %8.2f\n' "push → sealed (access: $access copies)" "$wall" "$(awk "BEGIN{print $wall / $t_floor}")"
printf 'peak RSS (VmHWM): ingest-worker %s MiB, transcoder %s MiB, sealer %s MiB\n' "$r_ingest" "$r_trans" "$r_seal"
printf 'bytes read (rchar) / recording size: ingest-worker %s, transcoder %s, sealer %s\n' "$x_ingest" "$x_trans" "$x_seal"
