#!/usr/bin/env bash
# Benchmark of `ingest-worker scan` (BLAKE3 + SHA-256 + continuity, as the worker runs it) on a
# ~1 GB 1080p30 H.264/AAC recording in MP4, and the same streams remuxed (ffmpeg -c copy) into
# MPEG-TS and Matroska, against reference tools on the same file in the same run:
#   (a) openssl dgst -sha256                      the floor: SHA-256 cannot be split across cores
#   (b) ffprobe packet dump + b3sum + openssl     what an operator would otherwise run, one after another
# Prints wall times, ratios and peak RSS. Page cache is warm for every tool (each runs once
# before it is timed). Not a test: nothing here passes or fails.
#
#   bench/scan.sh [SIZE_MB]      (default 1024; the file is cached under $BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-1024}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
RUNS="${RUNS:-3}"
mkdir -p "$BENCH_DIR"
scripts/setup >/dev/null
cargo build --quiet --release -p ingest-worker
SCAN="$CARGO_TARGET_DIR/release/ingest-worker"

FILE="$BENCH_DIR/scan-${SIZE_MB}MB-1080p30.mp4"
if [ ! -s "$FILE" ]; then
  # Noise does not compress, so the encoder reaches its bitrate: 40 Mbit/s ≈ 5 MB/s.
  secs=$(( SIZE_MB / 5 ))
  echo "generating $FILE (${secs} s of 1080p30 at 40 Mbit/s, takes a few minutes)" >&2
  gst-launch-1.0 -q videotestsrc num-buffers=$(( secs * 30 )) pattern=snow \
    ! video/x-raw,width=1920,height=1080,framerate=30/1 \
    ! x264enc speed-preset=ultrafast bitrate=40000 key-int-max=60 bframes=2 ! h264parse ! queue ! mp4mux name=m \
    ! filesink location="$FILE.part" \
    audiotestsrc num-buffers=$(( secs * 48000 / 1024 )) samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
    ! avenc_aac ! aacparse ! queue ! m.
  mv "$FILE.part" "$FILE"
fi
for ext in ts mkv; do
  [ -s "${FILE%.mp4}.$ext" ] || ffmpeg -v error -y -i "$FILE" -c copy "${FILE%.mp4}.$ext"
done

# best-of-N wall time (s) and max RSS (KiB) of a command line.
measure() {
  local best="" rss=0 out
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$BENCH_DIR/.time" -f "%e %M" bash -c "$1 >/dev/null 2>&1"
    out=$(tail -1 "$BENCH_DIR/.time")
    local t=${out% *} m=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$best $rss"
}

bench_one() {
  local FILE=$1 BYTES
  BYTES=$(stat -c %s "$FILE")
  bash -c "cat '$FILE' > /dev/null"   # warm the page cache
  local q
  q=$(printf %q "$FILE")
  read -r t_scan rss_scan < <(measure "$SCAN scan --json $q")
  read -r t_ossl _ < <(measure "openssl dgst -sha256 $q")
  read -r t_b3 _ < <(measure "b3sum $q")
  read -r t_probe _ < <(measure "ffprobe -v error -show_entries packet=stream_index,pts_time,dts_time,duration_time,flags -of csv $q")
  read -r t_gst _ < <(measure "gst-launch-1.0 -q filesrc location=$q ! parsebin ! fakesink sync=false")
  t_seq=$(awk "BEGIN{print $t_probe + $t_b3 + $t_ossl}")

  # The scan's digests must equal the reference tools' on this very file.
  "$SCAN" scan --json "$FILE" > "$BENCH_DIR/scan-report.json"
  python3 - "$BENCH_DIR/scan-report.json" "$(b3sum "$FILE" | cut -d' ' -f1)" "$(openssl dgst -sha256 -r "$FILE" | cut -d' ' -f1)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["files"][0]
assert r["blake3"] == sys.argv[2], "BLAKE3 differs from b3sum"
assert r["sha256"] == sys.argv[3], "SHA-256 differs from openssl"
print(f"digests equal b3sum and openssl; {r['container']}: verdict {r['findings'] and 'with findings' or 'clean'}, "
      f"{sum(s['frames'] for s in r['streams'])} buffers scanned", file=sys.stderr)
PY

  printf '\nfile: %s (%.2f GB), best of %s runs, warm page cache, %s cores\n' "$FILE" "$(awk "BEGIN{print $BYTES/1e9}")" "$RUNS" "$(nproc)"
  printf '%-58s %8s\n' "command" "wall s"
  printf '%-58s %8.2f\n' "ingest-worker scan --json (BLAKE3+SHA-256+continuity)" "$t_scan"
  printf '%-58s %8.2f\n' "(a) openssl dgst -sha256" "$t_ossl"
  printf '%-58s %8.2f\n' "    b3sum" "$t_b3"
  printf '%-58s %8.2f\n' "    ffprobe -show_entries packet=... -of csv" "$t_probe"
  printf '%-58s %8.2f\n' "    gst-launch filesrc ! parsebin ! fakesink (plain demux)" "$t_gst"
  printf '%-58s %8.2f\n' "(b) ffprobe + b3sum + openssl, one after another" "$t_seq"
  printf '\nratio scan / (a) = %.2f   (goal <= 1.2)\n' "$(awk "BEGIN{print $t_scan / $t_ossl}")"
  printf 'ratio scan / (b) = %.2f   (goal <= 0.6)\n' "$(awk "BEGIN{print $t_scan / $t_seq}")"
  printf 'peak RSS of scan = %d MiB (goal <= 256)\n' "$(( rss_scan / 1024 ))"
}

for f in "$FILE" "${FILE%.mp4}.ts" "${FILE%.mp4}.mkv"; do
  bench_one "$f"
done

# The optional decoding check (`scan --decode`, worker `ingest.decode_check`) on the MP4, against
# ffmpeg decoding the same file to nothing: the cost of looking at every frame.
if [ "${DECODE:-1}" = 1 ]; then
  q=$(printf %q "$FILE")
  read -r t_dec rss_dec < <(RUNS=1 measure "$SCAN scan --decode --json $q")
  read -r t_ff _ < <(RUNS=1 measure "ffmpeg -v error -i $q -f null -")
  read -r t_plain _ < <(measure "$SCAN scan --json $q")
  printf '\ndecoding check on %s, 1 run\n' "$FILE"
  printf '%-58s %8.2f\n' "ingest-worker scan --decode --json" "$t_dec"
  printf '%-58s %8.2f\n' "ffmpeg -i FILE -f null - (decode only)" "$t_ff"
  printf '%-58s %8.2f\n' "ingest-worker scan --json (demux only)" "$t_plain"
  printf 'ratio --decode / demux-only = %.1f; --decode / ffmpeg decode = %.2f; peak RSS %d MiB\n' \
    "$(awk "BEGIN{print $t_dec / $t_plain}")" "$(awk "BEGIN{print $t_dec / $t_ff}")" "$(( rss_dec / 1024 ))"
fi
