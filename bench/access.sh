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

. bench/lib.sh
CLIP=$(body_camera_clip)
TS="$BENCH_DIR/clip-60s-1080p30.ts"
[ -s "$TS" ] || ffmpeg -v error -y -i "$CLIP" -c copy "$TS"

cat "$TS" >/dev/null
read -r t_ffmpeg _ < <(best "ffmpeg -v error -y -i $TS -c copy -movflags +faststart $WORK/ff.mp4")
read -r t_gst _ < <(best "gst-launch-1.0 -q filesrc location=$TS ! parsebin name=p p. ! video/x-h264 ! h264parse ! h264timestamper ! video/x-h264,stream-format=avc,alignment=au ! queue ! mux. p. ! audio/mpeg ! aacparse ! queue ! mux. mp4mux name=mux faststart=true faststart-file=$WORK/gst.moov ! filesink location=$WORK/gst.mp4")
read -r t_ours _ < <(best "$BIN/transcoder transcode --profile access-remux $TS $WORK/ours.mp4 && rm -f $WORK/ours.mp4")
printf '\nremux of %s (%s MB, 60 s 1080p30 H.264 + AAC in MPEG-TS), best of %s, %s cores\n' "$(basename "$TS")" "$(( $(stat -c %s "$TS") / 1000000 ))" "$RUNS" "$(nproc)"
printf '%-64s %8s %8s\n' "run" "wall s" "ratio"
printf '%-64s %8.2f %8.2f\n' "ffmpeg -c copy -movflags +faststart" "$t_ffmpeg" 1
printf '%-64s %8.2f %8.2f\n' "the access-remux pipeline alone (gst-launch-1.0)" "$t_gst" "$(awk "BEGIN{print $t_gst / $t_ffmpeg}")"
printf '%-64s %8.2f %8.2f\n' "transcoder transcode --profile access-remux (scan+remux+verify)" "$t_ours" "$(awk "BEGIN{print $t_ours / $t_ffmpeg}")"

BIG="$BENCH_DIR/OF3001_20261128080000_0001-${SIZE_MB}MB.MP4"
body_camera_mp4 "$SIZE_MB" "$BIG"
BYTES=$(stat -c %s "$BIG")
cat "$BIG" >/dev/null
read -r t_floor _ < <(best "cat $BIG >/dev/null; b3sum $BIG; openssl dgst -sha256 $BIG")

start_pipeline
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
# Bytes each worker read from files during the run (/proc/PID/io rchar: read(2) and the like; a
# socket's recv is not counted), in units of the recording's size.
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
python3 - "$WORK/sealed.json" "$t0" "$t1" <<'PY'
import json, sys, datetime
e = json.loads(open(sys.argv[1]).readline()); t0, t1 = float(sys.argv[2]), float(sys.argv[3])
at = lambda k: datetime.datetime.fromisoformat(e[k].replace("Z", "+00:00")).timestamp() - t0
# sealed_at is when the sealer began the package (its retention counts from then).
print(f"stages (s after the push began): ingest verified {at('ingested_at'):.2f} (upload + download + scan), "
      f"sealer began {at('sealed_at'):.2f}, sealed event seen {t1 - t0:.2f} (the sealer's copy pass + records)")
PY
printf 'peak RSS (VmHWM): ingest-worker %s MiB, transcoder %s MiB, sealer %s MiB\n' "$r_ingest" "$r_trans" "$r_seal"
printf 'file bytes read (rchar) / recording size: ingest-worker %s, transcoder %s, sealer %s\n' "$x_ingest" "$x_trans" "$x_seal"
