#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the store tests; prints the SQLAlchemy URL, or nothing if it cannot.
set -u
command -v apt-get >/dev/null || exit 0
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y -q postgresql >/tmp/auditkit-pg-apt.log 2>&1 || exit 0
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
DIR=$(mktemp -d /tmp/auditkit-pg.XXXXXX)
chown postgres "$DIR" 2>/dev/null || exit 0
su postgres -s /bin/sh -c "'$BIN/initdb' -D '$DIR/data' -A trust -U postgres" >"$DIR/initdb.log" 2>&1 || exit 0
su postgres -s /bin/sh -c "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -o \"-p 55432 -k $DIR -c listen_addresses=''\" start" \
  >/dev/null 2>&1 || exit 0
echo "postgresql+psycopg://postgres@/postgres?host=$DIR&port=55432"
