#!/usr/bin/env bash
# Schemathesis over the whole OpenAPI document against a fresh server on SQLite: no 5xx, every
# response matches the document, schema-valid input is accepted and invalid input rejected.
# Rate limits are off: the fuzzer sends thousands of requests from one address with one token.
# Installs a pinned schemathesis into target/schemathesis-venv on first use (PyPI). Which checks
# run, and why two are narrowed, is in scripts/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv=target/schemathesis-venv
. scripts/lib/serve.sh

if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
serve_fresh

token=$(python3 - "$port" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
body = json.dumps({"email": "fuzz@example.com", "password": "correct horse battery",
                   "name": "Fuzz", "organization_name": "Fuzz"}).encode()
request = urllib.request.Request(f"{base}/api/v1/auth/register", data=body,
                                 headers={"content-type": "application/json"})
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)

# Platform administration takes a superuser's platform token, which the command makes and
# /admin/auth/login hands out; those operations get a pass of their own with it.
BULKHEAD_SUPERUSER_PASSWORD="correct horse battery" "$binary" create-superuser \
  --email root@example.com --bcrypt-cost 4 --database-url "sqlite://$dir/server.db?mode=rwc" >/dev/null
platform_token=$(python3 - "$port" <<'PY'
import json, sys, urllib.request
body = json.dumps({"email": "root@example.com", "password": "correct horse battery"}).encode()
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/v1/admin/auth/login",
                                 data=body, headers={"content-type": "application/json"})
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)

fuzz() {
  "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run openapi/openapi.json \
    --url "http://127.0.0.1:$port" --max-examples 30 --seed 1 --generation-deterministic --no-color "$@"
}
fuzz -H "Authorization: Bearer $token" --exclude-path-regex '^/api/v1/admin/organizations'
fuzz -H "Authorization: Bearer $platform_token" --include-path-regex '^/api/v1/admin/organizations'
