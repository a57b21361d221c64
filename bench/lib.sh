# Shared by the benchmarks (sourced). Needs BENCH_DIR and WORK.

# body_camera_mp4 SIZE_MB OUT: at least SIZE_MB of a body camera's MP4 (H.264 High ~8 Mbit/s + AAC,
# playable as it is): a 60 s 1080p30 clip made by ffmpeg (noise keeps the encoder honest), cached in
# $BENCH_DIR, concatenated by stream copy into one valid MP4.
body_camera_clip() {
  local clip="$BENCH_DIR/clip-60s-1080p30.mp4"
  mkdir -p "$BENCH_DIR"
  if [ ! -s "$clip" ]; then
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=60" -vf "noise=alls=10:allf=t" \
      -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -b:v 8M -maxrate 8M -bufsize 8M -g 60 \
      -c:a aac -b:a 128k "$clip"
  fi
  echo "$clip"
}

body_camera_mp4() {
  local size_mb=$1 out=$2 clip n
  clip=$(body_camera_clip)
  [ -s "$out" ] && return 0
  n=$(( size_mb * 1000000 / $(stat -c %s "$clip") + 1 ))
  for _ in $(seq "$n"); do echo "file '$clip'"; done > "$WORK/list.txt"
  ffmpeg -v error -y -f concat -safe 0 -i "$WORK/list.txt" -c copy "$out"
}

# best CMD: best-of-$RUNS wall seconds and the largest peak RSS (KiB) of a command line.
best() {
  local b="" rss=0 out t m
  for _ in $(seq "${RUNS:-3}"); do
    bash -c "${2:-true}"
    /usr/bin/time -o "$WORK/.time" -f "%e %M" bash -c "$1" >/dev/null 2>"$WORK/.err" || { cat "$WORK/.err" >&2; exit 1; }
    out=$(tail -1 "$WORK/.time"); t=${out% *}; m=${out#* }
    if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$b $rss"
}

# start_pipeline: nats-server -js, dev-s3 and the three workers (release build in $BIN) with their
# configs in $WORK, each started in the background (PIDS, P_INGEST, P_TRANS, P_SEAL); returns when
# every worker consumes. $1: extra TOML for the transcoder's config (e.g. a [policy.access] key).
start_pipeline() {
  mkdir -p "$WORK/nats" "$WORK/s3" "$WORK/logs"
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  "$TOOLS/bin/nats-server" -js -a 127.0.0.1 -p 4323 --store_dir "$WORK/nats" >"$WORK/logs/nats.log" 2>&1 & PIDS+=($!)
  "$BIN/dev-s3" --host 127.0.0.1 --port 9101 --access-key bench --secret-key bench-secret "$WORK/s3" >"$WORK/logs/s3.log" 2>&1 & PIDS+=($!)
  for port in 4323 9101; do for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done; done
  printf '[nats]\nurl = "nats://127.0.0.1:4323"\n[s3]\nendpoint = "http://127.0.0.1:9101"\n' > "$WORK/common.toml"
  { cat "$WORK/common.toml"; printf '[ingest]\nspool_dir = "%s"\n' "$WORK/spool-i"; } > "$WORK/ingest.toml"
  { cat "$WORK/common.toml"; printf '[transcode]\nspool_dir = "%s"\n%s\n' "$WORK/spool-t" "${1:-}"; } > "$WORK/transcoder.toml"
  { cat "$WORK/common.toml"; printf '[seal]\ndev_identity_dir = "%s"\nspool_dir = "%s"\n' "$WORK/pki" "$WORK/spool-s"; } > "$WORK/sealer.toml"
  METRICS_ADDR=127.0.0.1:9581 "$BIN/ingest-worker" run --config "$WORK/ingest.toml" >"$WORK/logs/ingest.log" 2>&1 & PIDS+=($!); P_INGEST=$!
  METRICS_ADDR=127.0.0.1:9582 "$BIN/transcoder" run --config "$WORK/transcoder.toml" >"$WORK/logs/transcoder.log" 2>&1 & PIDS+=($!); P_TRANS=$!
  METRICS_ADDR=127.0.0.1:9583 "$BIN/sealer" run --config "$WORK/sealer.toml" >"$WORK/logs/sealer.log" 2>&1 & PIDS+=($!); P_SEAL=$!
  for log in "$WORK"/logs/{ingest,transcoder,sealer}.log; do
    for _ in $(seq 300); do grep -q consuming "$log" 2>/dev/null && break; sleep 0.1; done
  done
  return 0
}
