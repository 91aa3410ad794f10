#!/usr/bin/env bash
# `make run`: the demo CAS client in the background, the server in the foreground.
#
# Ctrl-C reaches every process of the terminal's group: gunicorn stops its
# workers, the demo client stops, and this script waits for both and exits
# quietly. (The former recipe's `trap 'kill 0' … EXIT` signalled make itself
# from inside its own recipe: "make: *** Segmentation fault".)
set -u
BIN="${BIN:-.venv/bin}"
PORT="${PORT:-8080}"
DEMO_CLIENT_PORT="${DEMO_CLIENT_PORT:-8081}"
DEMO_CONFIG="${DEMO_CONFIG:-config/demo.toml}"

CAS_URL="http://127.0.0.1:${PORT}" "$BIN/python" scripts/demo_client.py --port "$DEMO_CLIENT_PORT" &
client=$!
CAS_SERVER_CONFIG="$DEMO_CONFIG" CAS_SERVER__PUBLIC_URL="http://127.0.0.1:${PORT}" \
  GUNICORN_BIND="127.0.0.1:${PORT}" GUNICORN_WORKERS="${GUNICORN_WORKERS:-2}" \
  "$BIN/gunicorn" -c config/gunicorn.conf.py wsgi:app &
server=$!

stop() {
  trap - INT TERM
  kill -TERM "$server" "$client" 2>/dev/null
  wait "$server" "$client" 2>/dev/null
  exit 0
}
trap stop INT TERM
# Either one ending (a port in use, a crash) stops the other.
wait -n "$server" "$client"
status=$?
kill -TERM "$server" "$client" 2>/dev/null
wait "$server" "$client" 2>/dev/null
exit "$status"
