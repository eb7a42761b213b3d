#!/usr/bin/env bash
# Prints a superuser URL of a PostgreSQL server for the tests, in this order:
#   1. BULKHEAD_TEST_DATABASE_URL, if set;
#   2. a server answering on 127.0.0.1:5432 (user postgres, trust auth);
#   3. a throwaway cluster under target/pg-test, created and started with the local initdb/pg_ctl.
# With no PostgreSQL installed it fails and says what to install. Messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BULKHEAD_TEST_DATABASE_URL:-}" ]; then
  echo "$BULKHEAD_TEST_DATABASE_URL"
  exit 0
fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if answers 5432; then
  echo "postgres://postgres@127.0.0.1:5432/postgres"
  exit 0
fi

bindir=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/initdb" ]; then bindir=$candidate; break; fi
done
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
fi
if [ -z "$bindir" ]; then
  echo "error: no PostgreSQL answers on 127.0.0.1:5432 and no initdb is installed." >&2
  echo "Install PostgreSQL (Debian: apt-get install postgresql) or set BULKHEAD_TEST_DATABASE_URL." >&2
  exit 1
fi

port=54329
dir="$PWD/target/pg-test"
# initdb refuses to run as root; run the cluster as the postgres user then.
as_owner=()
if [ "$(id -u)" = 0 ]; then as_owner=(runuser -u postgres --); fi

if ! answers "$port"; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "creating a throwaway PostgreSQL cluster in $dir" >&2
    "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1
  fi
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
