# Sourced by scripts that test against a real server: `serve_fresh` builds the debug binary and
# starts it on a fresh SQLite file and a free port, with cheap hashing and no rate limits (one
# client sends many requests from one address); it sets $port, $dir (the server's directory,
# removed on exit), $pid and $binary, and waits until /health answers.

binary="${CARGO_TARGET_DIR:-target}/debug/bulkhead"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_hex() {
  python3 -c 'import secrets; print(secrets.token_hex(32))'
}

serve_fresh() {
  cargo build --quiet -p bulkhead-server --bin bulkhead
  dir=$(mktemp -d)
  port=$(free_port)
  "$binary" serve --bind "127.0.0.1:$port" --database-url "sqlite://$dir/server.db?mode=rwc" \
    --jwt-secret "$(random_hex)" --bcrypt-cost 4 --secrets-key "test:$(random_hex)" \
    --auth-attempts-per-minute 0 --login-failures-per-account 0 --requests-per-minute 0 \
    --email-requests-per-address 0 --emails-per-account 0 >"$dir/server.log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: the server exited; its log:" >&2
      cat "$dir/server.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: the server did not answer on port $port" >&2
  return 1
}
