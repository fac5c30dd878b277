#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests.
#   bash .ci/postgres.sh           start one on a free port; prints its SQLAlchemy URL, or nothing if it cannot
#   bash .ci/postgres.sh stop URL  stop the server that URL names and remove its folder
# The server listens only on a Unix socket in its own folder under /tmp, so runs on one machine never share one.
set -u
command -v apt-get >/dev/null || exit 0

pg_bin() { ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 | xargs -r dirname; }

if [ "${1:-}" = stop ]; then
  DIR=$(printf '%s' "${2:-}" | sed -n 's/.*[?&]host=\([^&]*\).*/\1/p')
  case "$DIR" in /tmp/auditkit-pg.*) ;; *) exit 0 ;; esac  # only a folder this script made
  BIN=$(pg_bin)
  if [ -n "$BIN" ] && [ -d "$DIR/data" ]; then
    su postgres -s /bin/sh -c "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop" >/dev/null 2>&1
  fi
  rm -rf "$DIR"
  exit 0
fi

free_port() {  # a TCP port nothing listens on, chosen by the kernel
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

[ -n "$(pg_bin)" ] || apt-get install -y -q postgresql >/tmp/auditkit-pg-apt.log 2>&1 || exit 0
BIN=$(pg_bin)
DIR=$(mktemp -d /tmp/auditkit-pg.XXXXXX)
chown postgres "$DIR" 2>/dev/null || { rm -rf "$DIR"; exit 0; }
su postgres -s /bin/sh -c "'$BIN/initdb' -D '$DIR/data' -A trust -U postgres" >"$DIR/initdb.log" 2>&1 \
  || { rm -rf "$DIR"; exit 0; }
for _ in 1 2 3; do  # another process may take the port between choosing and starting: choose again
  PORT=$(free_port) || break
  if su postgres -s /bin/sh -c \
      "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -o \"-p $PORT -k $DIR -c listen_addresses=''\" start" \
      >/dev/null 2>&1; then
    echo "postgresql+psycopg://postgres@/postgres?host=$DIR&port=$PORT"
    exit 0
  fi
done
rm -rf "$DIR"
