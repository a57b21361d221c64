#!/usr/bin/env bash
# Throughput of the whole pipeline (release build, real nats-server and dev-s3 (s3s-fs) on this machine)
# with 1 and then 2 instances of the transcoder, the stage that saturates first. Pushes N
# generated recordings with `station push` and times until every seal record is stored; then reads
# each worker's /metrics for the time it spent handling messages (busy seconds per stage).
# Prints recordings per hour, media seconds per wall second, and each stage's busy fraction.
# Not a test: numbers for docs/sizing.md.
#
#   bench/throughput.sh [RECORDINGS] [SECONDS_EACH] [WIDTHxHEIGHT]   (default 24 30 1280x720)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-24}"; SECS="${2:-30}"; SIZE="${3:-1280x720}"
W="${SIZE%x*}"; H="${SIZE#*x}"
TOOLS="${EVIDENCE_TOOLS:-/opt/evidence-tools}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
scripts/setup >/dev/null
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --quiet --release -p ingest-worker -p transcoder -p sealer -p station -p dev-s3
BIN="$CARGO_TARGET_DIR/release"

SRC="$BENCH_DIR/throughput-${N}x${SECS}s-${SIZE}"
if [ ! -f "$SRC/.done" ]; then
  rm -rf "$SRC"; mkdir -p "$SRC"
  echo "generating $N recordings of $SECS s at $SIZE (H.264 8 Mbit/s-class + AAC) in $SRC" >&2
  for i in $(seq 1 "$N"); do
    f="$SRC/OF2001_20261128$(printf '%02d' $((i % 24)))0000_$(printf '%04d' "$i").MP4"
    gst-launch-1.0 -q videotestsrc num-buffers=$((SECS * 30)) pattern=$((i % 20)) ! video/x-raw,width="$W",height="$H",framerate=30/1 \
      ! timeoverlay text="rec $i" ! x264enc speed-preset=superfast bitrate=6000 key-int-max=60 ! h264parse ! queue ! mp4mux name=m \
      ! filesink location="$f" \
      audiotestsrc num-buffers=$((SECS * 48000 / 1024)) samplesperbuffer=1024 freq=$((200 + i * 10)) ! audio/x-raw,rate=48000,channels=1 \
      ! avenc_aac ! aacparse ! queue ! m.
  done
  touch "$SRC/.done"
fi
BYTES=$(du -cb "$SRC"/*.MP4 | tail -1 | cut -f1)

metric_sum() { # $1 = metrics address, $2 = subject: seconds spent handling messages
  curl -s "http://$1/metrics" | awk -v s="$2" 'BEGIN { v = 0 } $1 ~ /^evidence_worker_handle_seconds_sum/ && index($1, "subject=\"" s "\"") { v = $2 } END { print v }'
}

run() { # $1 = number of transcoder instances
  local inst=$1 WORK PIDS=() port
  WORK=$(mktemp -d /tmp/evidence-throughput.XXXXXX)
  mkdir -p "$WORK/nats" "$WORK/s3" "$WORK/logs"
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  "$TOOLS/bin/nats-server" -js -a 127.0.0.1 -p 4322 --store_dir "$WORK/nats" >"$WORK/logs/nats.log" 2>&1 & PIDS+=($!)
  "$BIN/dev-s3" --host 127.0.0.1 --port 9100 --access-key bench --secret-key bench-secret "$WORK/s3" >"$WORK/logs/s3.log" 2>&1 & PIDS+=($!)
  for port in 4322 9100; do for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done; done
  printf '[nats]\nurl = "nats://127.0.0.1:4322"\n[s3]\nendpoint = "http://127.0.0.1:9100"\n' > "$WORK/common.toml"
  cp "$WORK/common.toml" "$WORK/ingest.toml"
  cp "$WORK/common.toml" "$WORK/transcoder.toml"
  { cat "$WORK/common.toml"; printf '[seal]\ndev_identity_dir = "%s"\n' "$WORK/pki"; } > "$WORK/sealer.toml"
  METRICS_ADDR=127.0.0.1:9571 "$BIN/ingest-worker" run --config "$WORK/ingest.toml" >"$WORK/logs/ingest.log" 2>&1 & PIDS+=($!)
  for t in $(seq 1 "$inst"); do
    METRICS_ADDR=127.0.0.1:$((9571 + t)) "$BIN/transcoder" run --config "$WORK/transcoder.toml" >"$WORK/logs/transcoder$t.log" 2>&1 & PIDS+=($!)
  done
  METRICS_ADDR=127.0.0.1:9579 "$BIN/sealer" run --config "$WORK/sealer.toml" >"$WORK/logs/sealer.log" 2>&1 & PIDS+=($!)
  for log in "$WORK"/logs/{ingest,transcoder1,sealer}.log; do
    for _ in $(seq 300); do grep -q consuming "$log" 2>/dev/null && break; sleep 0.1; done
  done
  local t0 t1 sealed
  t0=$(date +%s.%N)
  "$BIN/station" push --config "$WORK/common.toml" --station st-bench --device CAM-BENCH --officer OF2001 "$SRC"/*.MP4 \
    >"$WORK/logs/push.log" 2>&1
  while :; do
    sealed=$(find "$WORK/s3/evidence" -name seal.json 2>/dev/null | wc -l)
    [ "$sealed" -ge "$N" ] && break
    sleep 0.5
  done
  t1=$(date +%s.%N)
  local wall ingest trans=0 seal s
  wall=$(awk "BEGIN{print $t1 - $t0}")
  ingest=$(metric_sum 127.0.0.1:9571 "evidence.ingest.request.v1.>")
  for t in $(seq 1 "$inst"); do s=$(metric_sum "127.0.0.1:$((9571 + t))" "evidence.pipeline.transcode.v1"); trans=$(awk "BEGIN{print $trans + $s}"); done
  seal=$(metric_sum 127.0.0.1:9579 "evidence.pipeline.seal.v1")
  printf '%-22s %9.1f %10.0f %12.2f %8.2f %8.2f %8.2f\n' "$inst transcoder(s)" "$wall" "$(awk "BEGIN{print $N * 3600 / $wall}")" \
    "$(awk "BEGIN{print $N * $SECS / $wall}")" "$(awk "BEGIN{print $ingest / $wall}")" \
    "$(awk "BEGIN{print $trans / $wall / $inst}")" "$(awk "BEGIN{print $seal / $wall}")"
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}

printf '\n%s recordings of %s s %s (%s MB in all), %s cores; busy = handling seconds / wall seconds (per instance)\n' \
  "$N" "$SECS" "$SIZE" "$((BYTES / 1000000))" "$(nproc)"
printf '%-22s %9s %10s %12s %8s %8s %8s\n' "run" "wall s" "rec/hour" "media s/s" "ingest" "transc." "seal"
run 1
run 2
