#!/usr/bin/env bash
# File videos are paced by their timestamps: a looped file keeps its pace wrap after wrap
# (its timestamps ran ahead by a loop's length at each wrap, so results froze a little longer
# each time); a timestamp that jumps ahead (a stream's clock) re-bases the pacing instead of
# stalling; and a stop or a shutdown ends a pacing sleep at once instead of waiting it out.
# Short clips made here with ffmpeg from the cached vtest.avi.
vdag=$1
. "$(dirname "$0")/lib.sh"
command -v ffmpeg > /dev/null || { echo "ffmpeg is missing (scripts/deps.txt)" >&2; exit 1; }
src=$cache/media/vtest.avi
ffmpeg -v error -i "$src" -t 2 -vf "scale=320:-2,fps=10" -c:v mpeg4 -q:v 5 "$tmp/short.mkv"
ffmpeg -v error -i "$tmp/short.mkv" -vf "setpts='if(gte(N,10),PTS+30/TB,PTS)'" \
  -fps_mode passthrough -c:v mpeg4 -q:v 5 "$tmp/jump.mkv"
ffmpeg -v error -i "$src" -t 15 -vf "scale=320:-2,fps=0.2" -c:v mpeg4 -q:v 5 "$tmp/slow.mkv"
ok "clips made (2 s at 10 fps; a 30 s jump at frame 10; one frame every 5 s)" '[ -s "$tmp/short.mkv" ] && [ -s "$tmp/jump.mkv" ] && [ -s "$tmp/slow.mkv" ]'

port=$(freeport)
S=http://127.0.0.1:$port
"$vdag" run --listen 127.0.0.1:$port --video 0="$tmp/short.mkv" --video 1="$tmp/jump.mkv" \
  --video 2="$tmp/slow.mkv" --threads 1 --no-profile 2> "$tmp/run.log" &
srv=$!; pids+=("$srv")
for _ in $(seq 100); do curl -s -m 1 "$S/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done
submit() { # VIDEO EXTRA-JSON
  curl -s -m 5 -X POST "$S/query/submit_query" -H 'Content-Type: application/json' \
    -d "{\"node_addr\":\"edge\",\"video_id\":$1,\"pipeline\":[\"face_detection\"],\"scheduler\":\"fixed\"$2}" |
    py 'print(json.load(sys.stdin)["job_uid"])'
}
res() { curl -s -m 5 "$S/user/sync_job_result/$1"; }

# --- a looped 2 s clip: wrap after wrap at its pace, results never freeze ----------------------
loop=$(submit 0 ',"loop":true')
ok "looped job submitted" '[ -n "$loop" ]'
: > "$tmp/loop.txt"
t0=$(date +%s.%N)
for _ in $(seq 45); do # 9 s: four and a half loops
  res "$loop" | py "j=json.load(sys.stdin); a=j['result']['appended_result']; print('%s %d %d' % ($(date +%s.%N) - $t0, j['job']['frames'], a[-1]['n_loop'] if a else 0))" >> "$tmp/loop.txt" 2>/dev/null
  sleep 0.2
done
ok "the looped clip wraps at its pace: 3+ loops in 9 s, no freeze over 1.5 s ($(tail -1 "$tmp/loop.txt"))" 'py "
rows=[list(map(float, l.split())) for l in open(\"$tmp/loop.txt\") if l.strip()]
assert rows and max(r[2] for r in rows) >= 3, rows[-1:]
last_t, last_n, gap = rows[0][0], rows[0][1], 0
for t, n, _ in rows:
    if n > last_n: last_t, last_n = t, n
    gap = max(gap, t - last_t)
assert gap < 1.5, gap
" < /dev/null'
curl -s -m 5 -X POST "$S/user/stop_job/$loop" > /dev/null

# --- a timestamp 30 s ahead: re-based, not slept ------------------------------------------------
jump=$(submit 1 ',"max_frames":20')
for _ in $(seq 60); do res "$jump" | grep -q '"finished"' && break; sleep 0.2; done
ok "a 30 s jump in the timestamps is re-based: 20 frames in under 12 s" 'res "$jump" | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"frames\"]==20, j"'

# --- a frame every 5 s: a shutdown ends the pacing sleep at once --------------------------------
slow=$(submit 2 '')
for _ in $(seq 100); do res "$slow" | py "j=json.load(sys.stdin); assert j['job']['frames']>=1" 2>/dev/null && break; sleep 0.1; done
ok "the slow clip's first frame is in" 'res "$slow" | py "assert json.load(sys.stdin)[\"job\"][\"frames\"]>=1"'
sleep 0.5 # the job now sleeps until its next frame, ~4.5 s away
t0=$(date +%s.%N)
kill -TERM "$srv"; wait "$srv"; rc=$?
took=$(py "print(round($(date +%s.%N) - $t0, 2))" < /dev/null)
ok "a shutdown during a pacing sleep ends it at once (exit $rc in $took s)" '[ $rc -eq 0 ] && py "assert $took < 2.5" < /dev/null'

[ $fail -eq 0 ] || { cat "$tmp/loop.txt"; tail -20 "$tmp/run.log"; } >&2
finish
