"""Check docs/openapi.yaml (OpenAPI 3) and compare it with the routes a node serves.
   python3 openapi_check.py OPENAPI.yaml ROUTES.json
ROUTES.json is GET /routes: [{"method","path","open"}]; a path ending in '/' (but "/") is a
prefix route, documented as that prefix followed by a {parameter}. Prints each problem; exit 1
if any."""
import json, re, sys
import yaml

spec = yaml.safe_load(open(sys.argv[1]))
routes = json.load(open(sys.argv[2]))["routes"]
bad = []
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

if not str(spec.get("openapi", "")).startswith("3."):
    bad.append("openapi: not a 3.x document")
for k in ("title", "version"):
    if not spec.get("info", {}).get(k):
        bad.append(f"info.{k} missing")

def resolve(ref):
    if not ref.startswith("#/"):
        return None
    node = spec
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node

def walk(node, where):
    if isinstance(node, dict):
        if "$ref" in node and resolve(node["$ref"]) is None:
            bad.append(f"{where}: $ref {node['$ref']} does not resolve")
        for k, v in node.items():
            walk(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{where}[{i}]")
walk(spec, "#")

schemes = spec.get("components", {}).get("securitySchemes", {})
documented = set()  # (METHOD, path template)
for path, item in spec.get("paths", {}).items():
    if not path.startswith("/"):
        bad.append(f"path {path}: must start with /")
    params = set(re.findall(r"\{([^}]+)\}", path))
    for m, op in item.items():
        if m not in METHODS:
            bad.append(f"{path}: {m} is not an HTTP method")
            continue
        documented.add((m.upper(), path))
        if not op.get("responses"):
            bad.append(f"{m.upper()} {path}: no responses")
        declared = set()
        for p in op.get("parameters", []) + item.get("parameters", []):
            p = resolve(p["$ref"]) if "$ref" in p else p
            if p and p.get("in") == "path":
                declared.add(p["name"])
                if not p.get("required"):
                    bad.append(f"{m.upper()} {path}: path parameter {p['name']} must be required")
        if declared != params:
            bad.append(f"{m.upper()} {path}: path parameters {sorted(declared)} != {sorted(params)}")
        for req in op.get("security", spec.get("security", [])):
            for s in req:
                if s not in schemes:
                    bad.append(f"{m.upper()} {path}: security scheme {s} is not defined")

def prefix_of(template):
    i = template.find("{")
    return template if i < 0 else template[:i]

# every route the node serves is documented ...
for r in routes:
    m, p = r["method"], r["path"]
    is_prefix = len(p) > 1 and p.endswith("/")
    hits = [t for (dm, t) in documented if dm == m and (prefix_of(t) == p if is_prefix else t == p)]
    if is_prefix:
        hits = [t for t in hits if "{" in t]
    if not hits:
        bad.append(f"served but not documented: {m} {p}")
    for t in hits:  # open routes, and only they, are documented without security
        op = spec["paths"][t][m.lower()]
        open_doc = op.get("security", spec.get("security")) == []
        if open_doc != bool(r["open"]):
            bad.append(f"{m} {t}: documented {'open' if open_doc else 'with the token'}, served {'open' if r['open'] else 'with the token'}")
# ... and every documented operation is served
served = {(r["method"], r["path"]) for r in routes}
for (m, t) in sorted(documented):
    pre = prefix_of(t)
    if (m, t) not in served and not ("{" in t and (m, pre) in served):
        bad.append(f"documented but not served: {m} {t}")

for b in bad:
    print("openapi: " + b)
print(f"openapi: {len(documented)} operations documented, {len(routes)} routes served, {len(bad)} problems")
sys.exit(1 if bad else 0)
