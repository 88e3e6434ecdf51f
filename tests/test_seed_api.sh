#!/usr/bin/env bash
# The seed's other routes, in its request and response shapes (video-dag-manager's
# query_manager.py, job_manager.py, job_tracker.py), in pseudo mode on real video:
# /user/submit_job; /node/get_plan as an edge asks for a plan (a known job is re-planned and
# its plan sent; a new uid with its node, video and dag is scheduled); /query/sync_result and
# /node/sync_job_result; /query/get_result|get_agg_info|get_plan|get_runtime/<id> (bare
# objects); /node/get_video_info; /node/join; the job manager's /job/submit_job,
# /job/update_plan, POST /job/get_runtime/<id>, /node/submit_job_user_constraint; and shapes:
# get_all_status lists the edges first (every key is a node_addr), the seed's update_plan
# example is taken (H264, reported as JPEG on the wire), numbers where the seed has numbers,
# node_ip an IP.
vdag=$1
. "$(dirname "$0")/lib.sh"
port=$(freeport)
S=http://127.0.0.1:$port
# req METHOD PATH [BODY]: prints the HTTP code, body in $tmp/body
req() {
  if [ -n "${3-}" ]; then
    curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' --data-binary "$3" "$S$2"
  else
    curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X "$1" "$S$2"
  fi
}
j() { py "$1" < "$tmp/body"; }
bg "$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi=street --video 1=Megamind.avi=faces \
  --replan 30 --threads 1 --loop 2> "$tmp/server.log"
for _ in $(seq 300); do curl -s -m 1 "$S/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done

dag='{"generator":"SingleFrameGenerator","flow":["SingleFrameGenerator","face_detection","face_alignment"],"input":{"face_detection":{"image":"SingleFrameGenerator.image"},"face_alignment":{"image":"SingleFrameGenerator.image","bbox":"face_detection.bbox","prob":"face_detection.prob"}}}'

# /user/submit_job: the seed's reply; its default constraint
code=$(req POST /user/submit_job "{\"node_addr\":\"127.0.0.1:$port\",\"video_id\":1,\"dag\":$dag}")
ok "/user/submit_job: the seed's reply" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and r[\"node_submit\"]==1 and r[\"constraint\"]==1 and r[\"sidechan\"]==1 and r[\"job_uid\"] and r[\"msg\"], r"'
job=$(j 'print(json.load(sys.stdin)["job_uid"])')
code=$(req GET /user/sync_job_result/$job)
ok "/user/submit_job: the seed's default constraint (delay 0.8, accuracy 0.8)" 'j "r=json.load(sys.stdin)[\"job\"]; assert r[\"user_constraint\"]=={\"delay\":0.8,\"accuracy\":0.8} and r[\"node_addr\"]==\"edge\", r"'
for _ in $(seq 150); do req GET /user/sync_job_result/$job >/dev/null; j "assert len(json.load(sys.stdin)['result']['appended_result'])>=2" 2>/dev/null && break; sleep 0.2; done

# /node/get_plan: the edge asks; the cloud re-plans now and sends the plan
n0=$(req GET /user/sync_job_result/$job >/dev/null; j 'print(len(json.load(sys.stdin)["result"]["plan_changes"]))')
code=$(req POST /node/get_plan "{\"job_uid\":\"$job\",\"dag\":$dag,\"last_plan_result\":{\"delay\":{\"face_detection\":0.05,\"face_alignment\":0.05}},\"user_constraint\":{\"delay\":0.3,\"accuracy\":0.5}}")
ok "/node/get_plan: accepted, with the plan in force" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and \"accepted\" in r[\"msg\"] and set(r[\"flow_mapping\"])=={\"face_detection\",\"face_alignment\"}, r"'
for _ in $(seq 300); do req GET /user/sync_job_result/$job >/dev/null; j "c=json.load(sys.stdin)['result']['plan_changes']; assert len(c)>$n0" 2>/dev/null && break; sleep 0.1; done
ok "/node/get_plan: re-planned at once, with the constraint given" 'j "r=json.load(sys.stdin); c=r[\"result\"][\"plan_changes\"]; assert c[-1][\"why\"]==\"asked (node/get_plan)\", c[-1]; assert r[\"job\"][\"user_constraint\"][\"delay\"]==0.3"'
code=$(req POST /node/get_plan "{\"job_uid\":\"$job\",\"dag\":{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"object_detection\"],\"input\":{\"object_detection\":{\"image\":\"SingleFrameGenerator.image\"}}}}")
ok "/node/get_plan: another DAG than the job's is refused" '[ "$code" = 400 ] && j "assert \"dag\" in json.load(sys.stdin)[\"msg\"]"'
code=$(req POST /node/get_plan '{"dag":{}}')
ok "/node/get_plan: no job_uid 400" '[ "$code" = 400 ] && j "assert \"job_uid: missing\" in json.load(sys.stdin)[\"msg\"]"'
code=$(req POST /node/get_plan "{\"job_uid\":\"seed.7\",\"node_addr\":\"edge\",\"video_id\":0,\"dag\":{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"object_detection\"],\"input\":{\"object_detection\":{\"image\":\"SingleFrameGenerator.image\"}}},\"max_frames\":3}")
ok "/node/get_plan: a new job under its uid is scheduled" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and r[\"job_uid\"]==\"seed.7\", r"'
for _ in $(seq 150); do req GET /user/sync_job_result/seed.7 >/dev/null; j "assert json.load(sys.stdin)['job']['state']=='DONE'" 2>/dev/null && break; sleep 0.2; done
ok "... and runs to its end" 'j "r=json.load(sys.stdin)[\"job\"]; assert r[\"state\"]==\"DONE\" and r[\"reason\"]==\"finished\" and r[\"frames\"]==3, r"'

# /query/get_* : bare objects, as the seed answered them
code=$(req GET /query/get_result/$job)
ok "/query/get_result: {appended_result: [...], latest_result: {plan, plan_result}}" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert \"status\" not in r and isinstance(r[\"appended_result\"],list) and r[\"appended_result\"] and set(r[\"latest_result\"][\"plan\"])>={\"video_conf\",\"flow_mapping\"} and \"face_detection\" in r[\"latest_result\"][\"plan_result\"][\"delay\"], r.keys()"'
code=$(req GET /query/get_agg_info/$job)
ok "/query/get_agg_info: the same result" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"appended_result\"] and r[\"latest_result\"]"'
code=$(req GET /query/get_plan/$job)
ok "/query/get_plan: {video_conf, flow_mapping}" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert set(r)=={\"video_conf\",\"flow_mapping\"} and \"resolution\" in r[\"video_conf\"], r"'
code=$(req GET /query/get_runtime/$job)
ok "/query/get_runtime: {delay, obj_n, obj_size, obj_stable}" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert set(r)=={\"delay\",\"obj_n\",\"obj_size\",\"obj_stable\"} and r[\"delay\"]>0, r"'
code=$(req GET /query/get_plan/nojob)
ok "/query/get_plan: unknown 404" '[ "$code" = 404 ]'

# /query/sync_result and /node/sync_job_result: a job manager pushes a result (to a job of
# one frame a second, so that its own results do not push them out of the last 10 at once)
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":0,"pipeline":["object_detection"],"scheduler":"fixed","plan":{"video_conf":{"fps":1}}}')
slow=$(j 'print(json.load(sys.stdin)["job_uid"])')
for _ in $(seq 300); do req GET /user/sync_job_result/$slow >/dev/null; j "assert json.load(sys.stdin)['job']['state']=='EXEC'" 2>/dev/null && break; sleep 0.1; done
code=$(req POST /query/sync_result "{\"job_uid\":\"$slow\",\"job_result\":{\"appended_result\":{\"n_loop\":424242,\"count_result\":{\"up\":1,\"total\":2}},\"latest_result\":{\"plan_result\":{\"delay\":{\"face_detection\":0.1}}}}}")
ok "/query/sync_result: kept" '[ "$code" = 200 ] && j "assert json.load(sys.stdin)[\"status\"]==0"'
code=$(req POST /node/sync_job_result "{\"job_uid\":\"$slow\",\"job_result\":{\"appended_result\":{\"n_loop\":434343}}}")
ok "/node/sync_job_result: kept" '[ "$code" = 200 ]'
code=$(req GET /query/get_result/$slow)
ok "... both in appended_result" 'j "a=[x.get(\"n_loop\") for x in json.load(sys.stdin)[\"appended_result\"]]; assert 424242 in a and 434343 in a, a"'
code=$(req POST /query/sync_result '{"job_uid":"nojob","job_result":{}}')
ok "/query/sync_result: unknown job 404" '[ "$code" = 404 ]'
code=$(req POST /query/sync_result "{\"job_uid\":\"$job\"}")
ok "/query/sync_result: no job_result 400" '[ "$code" = 400 ]'

# /node/get_video_info and /node/join
code=$(req GET /node/get_video_info)
ok "/node/get_video_info: {ip:port: {id: {type}}}" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); v=r[\"127.0.0.1:$port\"]; assert v==({\"0\":{\"type\":\"street\"},\"1\":{\"type\":\"faces\"}}), r"'
code=$(req POST /node/join '{"node_port":7000,"video_id":3,"video_type":"traffic flow outdoor"}')
ok "/node/join: the seed's reply, the node at the caller's IP" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and r[\"node_addr\"]==\"127.0.0.1:7000\", r"'
code=$(req GET /node/get_video_info)
ok "... listed by /node/get_video_info" 'j "r=json.load(sys.stdin); assert r[\"127.0.0.1:7000\"]=={\"3\":{\"type\":\"traffic flow outdoor\"}}, r"'
code=$(req POST /node/join '{"node_port":"x"}')
ok "/node/join: bad body 400" '[ "$code" = 400 ]'

# the job manager's routes on the edge: /job/submit_job, /job/update_plan, POST /job/get_runtime
code=$(req POST /job/submit_job '{"job_uid":"jm.1","node_addr":"edge","video_id":0,"pipeline":["object_detection"],"user_constraint":{"delay":0.8}}')
ok "/job/submit_job: the seed's reply" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and r[\"job_uid\"]==\"jm.1\" and r[\"msg\"], r"'
for _ in $(seq 300); do req GET /user/jobs >/dev/null; j "assert [x for x in json.load(sys.stdin)['jobs'] if x['job_uid']=='jm.1']" 2>/dev/null && break; sleep 0.1; done
ok "... the cloud takes it over (it lists it)" 'j "assert [x for x in json.load(sys.stdin)[\"jobs\"] if x[\"job_uid\"]==\"jm.1\" and x[\"state\"]==\"EXEC\"]"'
code=$(req POST /job/update_plan '{"job_uid":"jm.1","video_conf":{"resolution":"360p","fps":25,"nskip":1,"ntracking":0,"encoder":"JPEG"},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"127.0.0.1","node_role":"host"}}}')
ok "/job/update_plan: the seed's reply" '[ "$code" = 200 ] && j "r=json.load(sys.stdin); assert r[\"status\"]==0 and \"updated plan\" in r[\"msg\"], r"'
for _ in $(seq 300); do req POST /job/get_runtime/jm.1 >/dev/null; j "assert json.load(sys.stdin)['plan']['video_conf']['resolution']=='360p'" 2>/dev/null && break; sleep 0.1; done
ok "POST /job/get_runtime: the plan applied (node_ip 127.0.0.1, role host: here)" 'j "r=json.load(sys.stdin); vc=r[\"plan\"][\"video_conf\"]; fm=r[\"plan\"][\"flow_mapping\"][\"object_detection\"]; assert vc[\"resolution\"]==\"360p\" and vc[\"nskip\"]==1 and fm[\"model_id\"]==1 and fm[\"node\"]==\"edge\" and \"fallback\" not in r[\"result\"], r"'
code=$(req POST /node/submit_job_user_constraint '{"job_uid":"jm.1","user_constraint":{"delay":0.5}}')
ok "/node/submit_job_user_constraint" '[ "$code" = 200 ] && j "assert json.load(sys.stdin)[\"status\"]==0"'
code=$(req POST /job/update_plan '{"job_uid":"nojob","video_conf":{},"flow_mapping":{}}')
ok "/job/update_plan: unknown job 404" '[ "$code" = 404 ]'

# execute_task as the seed's services took it: the image in its field_codec_utils form (str()
# of the JPEG bytes), face_detection then face_alignment, which returns the rendered image
cat > "$tmp/exec.py" <<'PY'
import ast, base64, json, sys, urllib.request
url, jpg = sys.argv[1], open(sys.argv[2], "rb").read()
def post(svc, body, route="/execute_task/"):
    r = urllib.request.Request(url + route + svc, data=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(r, timeout=60))
img = str(jpg)                                    # the seed's encode_image: "b'\xff\xd8...'"
d = post("face_detection", {"image": img})
assert d["status"] == 0 and d["bbox"] and "image" not in d, d.keys()
a = post("face_alignment", {"image": img, "bbox": d["bbox"], "prob": d["prob"]})
assert a["count_result"]["total"] == len(d["bbox"]) and "up" in a["count_result"], a["count_result"]
out = ast.literal_eval(a["image"])                # the seed's decode_image, without eval()
assert isinstance(out, bytes) and out[:2] == b"\xff\xd8" and out != jpg, a["image"][:20]
assert a["image"] == str(out)                     # written as Python writes it
b = post("face_alignment", {"image": base64.b64encode(jpg).decode(), "bbox": d["bbox"]})
assert base64.b64decode(b["image"])[:2] == b"\xff\xd8"   # base64 in, base64 out
r = post("face_detection", {"image": img, "render": True})
assert ast.literal_eval(r["image"])[:2] == b"\xff\xd8"   # any service, when asked
s = post("face_detection", {"image": img}, "/service/")  # the seed's service_demo route
assert s["bbox"] == d["bbox"] and s["prob"] == d["prob"], s.keys()
print("ok")
PY
out=$(python3 "$tmp/exec.py" "$S" "$cache/media/messi5.jpg" 2>&1)
ok "execute_task: the seed's image codec; face_alignment returns the rendered image ($out)" '[ "$out" = ok ]'
code=$(req POST /execute_task/face_detection '{"image":"b'"'"'\\xff\\xd8'"'"'x"}')
ok "execute_task: a malformed bytes literal is refused (no eval)" '[ "$code" = 400 ]'

# shapes as the seed's: get_all_status lists the edges first, and every key is a node_addr
code=$(req GET /user/get_all_status)
ok "get_all_status: the first key is an edge with videos" 'j "d=json.load(sys.stdin)[\"data\"]; k=list(d)[0]; assert d[k][\"video\"] and d[k][\"role\"]==\"edge\" and list(d)[-1]==\"cloud\", list(d)"'
for key in $(j 'print(" ".join(json.load(sys.stdin)["data"]))'); do
  code=$(req POST /query/submit_query "{\"node_addr\":\"$key\",\"video_id\":0,\"pipeline\":[\"object_detection\"],\"max_frames\":1}")
  ok "get_all_status key '$key' is accepted as node_addr ($code)" '[ "$code" = 200 ] || j "m=json.load(sys.stdin)[\"msg\"]; assert m.startswith(\"video_id:\"), m"'
done
# the seed's own update_plan example (H264, node_ip addresses by role) on a running job
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":1,"pipeline":["face_detection","face_alignment"],"scheduler":"fixed"}')
fj=$(j 'print(json.load(sys.stdin)["job_uid"])')
for _ in $(seq 150); do req GET /user/sync_job_result/$fj >/dev/null; j "assert len(json.load(sys.stdin)['result']['appended_result'])>=1" 2>/dev/null && break; sleep 0.2; done
ok "a default plan shows the source's numbers: fps, \"528p\"" 'j "vc=json.load(sys.stdin)[\"result\"][\"latest_result\"][\"plan\"][\"video_conf\"]; assert vc[\"resolution\"]==\"528p\" and 23<vc[\"fps\"]<25, vc"'
ok "node_ip is the node's IP, node its name" 'j "fm=json.load(sys.stdin)[\"result\"][\"latest_result\"][\"plan\"][\"flow_mapping\"][\"face_detection\"]; assert fm[\"node_ip\"]==\"127.0.0.1\" and fm[\"node\"]==\"edge\" and fm[\"node_role\"]==\"host\", fm"'
seedplan='"flow_mapping":{"face_detection":{"model_id":0,"node_ip":"192.168.56.102","node_role":"host"},"face_alignment":{"model_id":0,"node_ip":"192.168.56.102","node_role":"cloud"}},"video_conf":{"encoder":"H264","fps":24,"nskip":0,"ntracking":5,"resolution":"360p"}'
code=$(req POST /node/update_plan "{\"job_uid\":\"$fj\",$seedplan}")
ok "the seed's update_plan example is taken (encoder H264) ($code)" '[ "$code" = 200 ]'
for _ in $(seq 300); do req GET /user/sync_job_result/$fj >/dev/null; j "assert json.load(sys.stdin)['result']['latest_result']['plan']['video_conf']['ntracking']==5" 2>/dev/null && break; sleep 0.1; done
ok "... and applied: H264 on the wire" 'j "vc=json.load(sys.stdin)[\"result\"][\"latest_result\"][\"plan\"][\"video_conf\"]; assert vc[\"encoder\"]==\"H264\" and \"wire_encoder\" not in vc and vc[\"fps\"]==24 and vc[\"resolution\"]==\"360p\" and vc[\"ntracking\"]==5, vc"'
ok "... host on the edge, cloud on the cloud, no fallback" 'j "r=json.load(sys.stdin)[\"result\"]; fm=r[\"latest_result\"][\"plan\"][\"flow_mapping\"]; assert fm[\"face_detection\"][\"node\"]==\"edge\" and fm[\"face_alignment\"][\"node\"]==\"cloud\", fm; assert \"fallback\" not in r[\"appended_result\"][-1]"'
code=$(req POST /query/submit_query "{\"node_addr\":\"edge\",\"video_id\":1,\"pipeline\":[\"face_detection\",\"face_alignment\"],\"plan\":{\"video_conf\":{\"encoder\":\"VP9\"}}}")
ok "an encoder nobody has is refused, naming it" '[ "$code" = 400 ] && j "assert \"encoder\" in json.load(sys.stdin)[\"msg\"]"'

kill -TERM "$bg_pid"; wait "$bg_pid"; rc=$?
ok "server exits 0 ($rc)" '[ $rc -eq 0 ]'
[ $fail -eq 0 ] || { echo "--- last body"; cat "$tmp/body"; echo; echo "--- server log"; tail -20 "$tmp/server.log"; } >&2
finish
