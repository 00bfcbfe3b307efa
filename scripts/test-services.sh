#!/usr/bin/env bash
# Start a throwaway PostgreSQL and Redis on free loopback ports, run the test
# suite against them (then again on SQLite + memory://), and always tear down.
#
#   scripts/test-services.sh [-- PYTEST_ARGS...]   both suites
#   scripts/test-services.sh --bench [-- ARGS...]  python -m bench on PostgreSQL + Redis
set -euo pipefail
cd "$(dirname "$0")/.."

mode=test
if [[ "${1:-}" == --bench ]]; then mode=bench; shift; fi
if [[ "${1:-}" == -- ]]; then shift; fi

find_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# Nothing starts services for us here (no systemd), and CI is a fresh Debian.
PG_BIN=$(find_pg_bin)
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]] || ! command -v redis-server >/dev/null; then
    sudo=""; [[ $EUID -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        postgresql redis-server >/dev/null
    PG_BIN=$(find_pg_bin)
fi
REDIS_SERVER=$(command -v redis-server)
# Node.js runs the GraphQL-over-HTTP audit suite (the npm graphql-http package, installed by its test).
if [[ $mode == test ]] && ! { command -v node && command -v npm; } >/dev/null; then
    sudo=""; [[ $EUID -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# initdb and pg_ctl refuse to run as root, so root hands them to the postgres user;
# anyone else runs them as themselves.
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Hold both sockets open at once so the two ports differ; other programs may own the defaults.
read -r PG_PORT REDIS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

# Under /tmp (world-traversable); mktemp makes it 0700, so open it for traversal
# and give the data dir to the postgres user.
WORK=$(mktemp -d /tmp/aim-test.XXXXXX)
chmod 711 "$WORK"
PGDATA="$WORK/pg"
mkdir "$PGDATA"
[[ $EUID -ne 0 ]] || chown postgres:postgres "$PGDATA"
pg_started="" redis_started="" child=""

cleanup() {
    local rc=$?
    set +e
    # Interrupted mid-run: stop the suite (timeout passes the TERM on to it).
    [[ -n "$child" ]] && kill "$child" 2>/dev/null && wait "$child"
    if [[ -n "$pg_started" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    if [[ -n "$redis_started" ]]; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
        # Fall back to the pid file if redis did not answer the shutdown.
        [[ -f "$WORK/redis.pid" ]] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run in the background and wait: bash defers traps until a foreground child ends,
# so this lets INT/TERM clean up at once instead of after a (possibly hung) suite.
run() { local rc=0; "$@" & child=$!; wait "$child" || rc=$?; child=""; return "$rc"; }

# Locale C: a fresh machine may have no generated locales, and tests need none.
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
pg_started=1
# fsync off: the data is thrown away. 200 connections: tests open pools in parallel.
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -t 60 \
    -o "-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null

redis_started=1
"$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' \
    --appendonly no --dir "$WORK" --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping >/dev/null

# So tests can start extra instances (e.g. a second Redis) of their own.
export AIM_TEST_PG_BIN="$PG_BIN" AIM_TEST_REDIS_SERVER="$REDIS_SERVER"

PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

if [[ $mode == bench ]]; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres aim_bench
    AIM_BENCH_DATABASE_URL="$PG_URL/aim_bench" AIM_BENCH_REDIS_URL="$REDIS_URL" \
        run .venv/bin/python -m bench "$@"
    exit
fi

# Run both suites even if the first fails. `timeout` because leftover aiosqlite
# threads can make pytest hang after printing its results (STACK-NOTES trap 4).
failed=0
echo "== suite on PostgreSQL + Redis =="
AIM_TEST_DATABASE_URL="$PG_URL/postgres" AIM_TEST_REDIS_URL="$REDIS_URL" \
    run timeout -k 30 900 .venv/bin/pytest -q "$@" || failed=1
echo "== suite on SQLite + memory:// =="
AIM_TEST_DATABASE_URL=sqlite AIM_TEST_REDIS_URL=memory:// \
    run timeout -k 30 600 .venv/bin/pytest -q "$@" || failed=1
exit "$failed"
