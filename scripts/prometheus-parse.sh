#!/usr/bin/env bash
# Parses Prometheus text format from stdin with the Prometheus project's own Python client
# (prometheus_client.parser) and prints its samples as JSON lines: {"name", "labels", "value"}.
# Installs a pinned prometheus-client into target/prometheus-venv on first use (PyPI). Used by
# tests/metrics.rs, so /metrics is checked by a real parser, not by one written for the test.
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.26.0
venv=target/prometheus-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import prometheus_client" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "prometheus-client==$version"
fi
exec "$venv/bin/python" -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": sample.name,
                          "labels": sample.labels, "value": sample.value}))
'
