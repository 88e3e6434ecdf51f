#!/usr/bin/env bash
# docs/openapi.yaml against the routes a node serves (GET /routes): every route documented,
# every documented operation served, open routes documented as open; the document's own
# structure ($refs resolve, path parameters declared, responses given); served at /openapi.yaml
# byte for byte, without the token. The one process of `vdag run --listen` serves every role.
vdag=$1
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
spec=$here/../docs/openapi.yaml
python3 -c 'import yaml' 2>/dev/null || { echo "test_openapi: python3-yaml is missing (make setup)" >&2; exit 1; }
T=api-token
p=$(freeport)
S=http://127.0.0.1:$p
bg "$vdag" run --listen 127.0.0.1:$p --token $T --video 0=vtest.avi --no-profile 2> "$tmp/run.log"
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
ok "GET /routes needs the token" '[ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/routes")" = 401 ]'
curl -s -m 5 -H "Authorization: Bearer $T" "$S/routes" > "$tmp/routes.json"
ok "GET /routes lists the routes" 'py "r=json.load(sys.stdin)[\"routes\"]; assert {\"method\":\"POST\",\"path\":\"/query/submit_query\",\"open\":False} in r and {\"method\":\"GET\",\"path\":\"/\",\"open\":True} in r" < "$tmp/routes.json"'
ok "docs/openapi.yaml matches the routes served" 'python3 "$here/openapi_check.py" "$spec" "$tmp/routes.json"'
curl -s -m 5 "$S/openapi.yaml" > "$tmp/served.yaml"
ok "served at /openapi.yaml without the token, as in docs/" 'cmp -s "$tmp/served.yaml" "$spec"'
# the checker itself finds a missing route and an undocumented one
python3 -c 'import yaml,sys; d=yaml.safe_load(open(sys.argv[1])); del d["paths"]["/user/jobs"]; d["paths"]["/no/such"]={"get":{"responses":{"200":{"description":"x"}}}}; yaml.safe_dump(d, open(sys.argv[2],"w"))' "$spec" "$tmp/broken.yaml"
python3 "$here/openapi_check.py" "$tmp/broken.yaml" "$tmp/routes.json" > "$tmp/broken.out"
ok "a broken description is caught" 'grep -q "served but not documented: GET /user/jobs" "$tmp/broken.out" && grep -q "documented but not served: GET /no/such" "$tmp/broken.out"'
finish
