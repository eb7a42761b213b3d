#!/usr/bin/env bash
# Generates the typed clients from the committed openapi/openapi.json: Python with
# openapi-python-client (into clients/python/generated, warnings are errors) and TypeScript with
# openapi-typescript, type-checked with tsc against clients/typescript/src (openapi-fetch).
# With --check (make test) it then starts a fresh server and runs each client's short script
# against it: a document change that breaks either client fails the build.
# Pinned tools: openapi-python-client into target/clients-venv (PyPI); the npm packages of
# clients/typescript/package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

generator=0.29.1
venv="$PWD/target/clients-venv"

if [ ! -x "$venv/bin/openapi-python-client" ] || ! "$venv/bin/openapi-python-client" --version 2>/dev/null | grep -q "$generator"; then
  echo "installing openapi-python-client $generator into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "openapi-python-client==$generator"
fi
rm -rf clients/python/generated
# The generator formats its output with the ruff it brought.
PATH="$venv/bin:$PATH" openapi-python-client generate --path openapi/openapi.json \
  --output-path clients/python/generated/bulkhead_client --meta none \
  --config clients/python/config.yml --fail-on-warning >/dev/null
echo "python client: clients/python/generated/bulkhead_client"

(
  cd clients/typescript
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  rm -rf generated dist
  npx --no-install openapi-typescript ../../openapi/openapi.json -o generated/schema.d.ts --silent
  npx --no-install tsc -p .
)
echo "typescript client: clients/typescript/generated/schema.d.ts (checked by tsc)"

if [ "${1:-}" = "--check" ]; then
  . scripts/lib/serve.sh
  serve_fresh
  PYTHONPATH=clients/python/generated "$venv/bin/python" clients/python/smoke.py "http://127.0.0.1:$port"
  node clients/typescript/dist/src/smoke.js "http://127.0.0.1:$port"
fi
