#!/usr/bin/env bash
# The dashboard in a real browser (docs/dashboard.md): Debian's headless Chromium driven by
# playwright-core (pinned in tests/web/package.json; `make setup` installs it, else it is
# installed here from the npm registry or its cache). One vdag process with a token: the page
# asks for it, lists the nodes and a batch video's progress, runs a job submitted from its form,
# shows its live view and its delay plot, changes its constraint, and stops it. Screenshots:
# <build dir>/dashboard/*.png.
vdag=$1
. "$(dirname "$0")/lib.sh"
web=$(cd "$(dirname "$0")/web" && pwd)
out=$(cd "$(dirname "$vdag")" && pwd)/dashboard
for tool in node npm chromium; do
  command -v "$tool" >/dev/null || { echo "test_dashboard: $tool is missing (make setup)" >&2; exit 1; }
done
[ -d "$web/node_modules/playwright-core" ] || (cd "$web" && npm ci --prefer-offline --no-audit --no-fund >/dev/null) ||
  { echo "test_dashboard: cannot install playwright-core (npm ci in tests/web)" >&2; exit 1; }
T=dash-token
p=$(freeport)
S=http://127.0.0.1:$p
bg "$vdag" run --listen 127.0.0.1:$p --token $T --video 0=vtest.avi --loop --threads 1 --replan 1 --no-profile 2> "$tmp/run.log"
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
ok "the page is served without the token" '[ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/")" = 200 ] && [ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/static/app.js")" = 200 ]'
ok "the API still needs it" '[ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/user/jobs")" = 401 ]'
ok "/healthz says a token is needed" 'curl -s -m 5 "$S/healthz" | py "assert json.load(sys.stdin)[\"auth\"] is True"'
vid=$(curl -s -m 30 -H "Authorization: Bearer $T" -F "file=@$cache/media/vtest.avi" "$S/videos?frames=12&name=vtest-batch" | py 'print(json.load(sys.stdin)["video_id"])')
ok "a batch video uploaded" '[ -n "$vid" ]'
rm -rf "$out"
timeout 300 node "$web/dashboard.js" "$S" "$T" "$out" > "$tmp/browser.log" 2>&1
rc=$?
cat "$tmp/browser.log"
ok "the browser checks pass" '[ "$rc" = 0 ]'
job=$(sed -n 's/^JOB //p' "$tmp/browser.log")
ok "the cloud agrees: the job ran and was stopped" '[ -n "$job" ] && curl -s -m 5 -H "Authorization: Bearer $T" "$S/user/sync_job_result/$job" | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"stopped\" and j[\"frames\"]>0, j"'
ok "screenshots saved" '[ -s "$out/dashboard-nodes.png" ] && [ -s "$out/dashboard-job.png" ] && [ -s "$out/live-view.png" ] && [ -s "$out/dashboard-stopped.png" ] && [ -s "$out/dashboard-plan-change.png" ]'
[ "$rc" = 0 ] || tail -20 "$tmp/run.log" >&2
finish
