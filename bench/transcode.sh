#!/usr/bin/env bash
# Benchmark of the transcoder's profiles against ffmpeg with the same settings, on the same
# ~2 minute 1080p30 H.264/AAC source, in one run. Prints wall times, ratios and output sizes.
# `transcoder transcode` is timed as a whole (source scan + pipeline + scan and hash of the copy +
# verification) and its pipeline alone (`wall_s` in its JSON). Each side runs RUNS times,
# interleaved; the best run counts (this machine's timings vary by ±10 % between runs). Not a test.
#
# The source is what body cameras write: H.264 High, 4:2:0, B-frames, AAC. (A first version of
# this script fed x264enc videotestsrc's default 4:4:4 output, so both sides also converted
# 4:4:4 → 4:2:0, which ffmpeg's swscale does faster than videoconvert.)
# ffmpeg gets the profile's exact settings, including its bitrate cap (VBV: -maxrate = -b:v,
# -bufsize = the 1000 ms buffer).
#
#   bench/transcode.sh [SECONDS] [RUNS]     (default 120 2)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-120}"; RUNS="${2:-2}"
BENCH_DIR="${BENCH_DIR:-/var/cache/evidence-pipeline/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/evidence-pipeline/target}"
mkdir -p "$BENCH_DIR"
scripts/setup >/dev/null
cargo build --quiet --release -p transcoder
TC="$CARGO_TARGET_DIR/release/transcoder"
SRC="$BENCH_DIR/transcode-src-${SECS}s-1080p30-420.mp4"
if [ ! -s "$SRC" ]; then
  echo "generating $SRC" >&2
  gst-launch-1.0 -q videotestsrc num-buffers=$(( SECS * 30 )) pattern=smpte ! video/x-raw,width=1920,height=1080,framerate=30/1,format=I420 \
    ! timeoverlay font-desc="Sans 64" ! x264enc speed-preset=faster bitrate=8000 key-int-max=60 bframes=2 ! video/x-h264,profile=high ! h264parse \
    ! queue ! mp4mux name=m ! filesink location="$SRC.part" \
    audiotestsrc num-buffers=$(( SECS * 48000 / 1024 )) samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
    ! avenc_aac ! aacparse ! queue ! m.
  mv "$SRC.part" "$SRC"
fi
OUT="$BENCH_DIR/out"; rm -rf "$OUT"; mkdir -p "$OUT"

timed() { /usr/bin/time -o "$OUT/.t" -f "%e" "$@" >"$OUT/.stdout" 2>"$OUT/.stderr" || { cat "$OUT/.stderr" >&2; exit 1; }; cat "$OUT/.t"; }

best() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b < a) print b; else print a }'; }
pipeline_s() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["wall_s"],2))' "$OUT/.stdout"; }
t_acc=; p_acc=; t_ff_acc=; t_pres=; p_pres=; t_ff_pres=
for run in $(seq 1 "$RUNS"); do
  echo "run $run of $RUNS" >&2
  t_ff_acc=$(best "$t_ff_acc" "$(timed ffmpeg -nostdin -y -v error -i "$SRC" -c:v libx264 -preset veryfast -profile:v high -b:v 2500k \
    -maxrate 2500k -bufsize 2500k -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart "$OUT/ffmpeg-access.mp4")")
  t_acc=$(best "$t_acc" "$(timed "$TC" transcode --profile access --threads 0 "$SRC" "$OUT/access.mp4")")
  p_acc=$(best "$p_acc" "$(pipeline_s)")
  t_ff_pres=$(best "$t_ff_pres" "$(timed ffmpeg -nostdin -y -v error -i "$SRC" -c:v ffv1 -level 3 -slices 4 -slicecrc 1 -c:a flac \
    "$OUT/ffmpeg-preservation.mkv")")
  t_pres=$(best "$t_pres" "$(timed "$TC" transcode --profile preservation "$SRC" "$OUT/preservation.mkv")")
  p_pres=$(best "$p_pres" "$(pipeline_s)")
done

size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1/1e6}'; }
printf '\nsource: %s (%s s 1080p30 H.264 High 4:2:0 + AAC, %s), %s cores, best of %s\n' "$SRC" "$SECS" "$(size "$SRC")" "$(nproc)" "$RUNS"
printf '%-62s %8s %8s %10s\n' "run" "wall s" "ratio" "size"
printf '%-62s %8.2f %8s %10s\n' "ffmpeg libx264 veryfast High 2500k (VBV 1 s) g60 + aac faststart" "$t_ff_acc" "1.00" "$(size "$OUT/ffmpeg-access.mp4")"
printf '%-62s %8.2f %8.2f %10s\n' "transcoder access (whole command incl. scans + verify)" "$t_acc" "$(awk "BEGIN{print $t_acc/$t_ff_acc}")" "$(size "$OUT/access.mp4")"
printf '%-62s %8.2f %8.2f\n' "transcoder access (pipeline only)" "$p_acc" "$(awk "BEGIN{print $p_acc/$t_ff_acc}")"
printf '%-62s %8.2f %8s %10s\n' "ffmpeg ffv1 -level 3 -slices 4 -slicecrc 1 + flac" "$t_ff_pres" "1.00" "$(size "$OUT/ffmpeg-preservation.mkv")"
printf '%-62s %8.2f %8.2f %10s\n' "transcoder preservation (whole command)" "$t_pres" "$(awk "BEGIN{print $t_pres/$t_ff_pres}")" "$(size "$OUT/preservation.mkv")"
printf '%-62s %8.2f %8.2f\n' "transcoder preservation (pipeline only)" "$p_pres" "$(awk "BEGIN{print $p_pres/$t_ff_pres}")"
