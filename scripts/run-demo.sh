#!/usr/bin/env bash
# `make run`: the demo CAS client and the demo SAML SP in the background, the
# server in the foreground.
#
# Ctrl-C reaches every process of the terminal's group: gunicorn stops its
# workers, the demo client and SP stop, and this script waits for them all and
# exits quietly. (The former recipe's `trap 'kill 0' … EXIT` signalled make itself
# from inside its own recipe: "make: *** Segmentation fault".)
set -u
BIN="${BIN:-.venv/bin}"
PORT="${PORT:-8080}"
DEMO_CLIENT_PORT="${DEMO_CLIENT_PORT:-8081}"
DEMO_CONFIG="${DEMO_CONFIG:-config/demo.toml}"
DEMO_SAML_SP_PORT="${DEMO_SAML_SP_PORT:-8082}"
# The demo SAML SP's keys and metadata ([saml] sp_files of config/demo.toml).
DEMO_SAML_SP_DIR="${DEMO_SAML_SP_DIR:-instance/demo-saml-sp}"

# The demo SAML SP (pysaml2) declares the REFEDS Research & Scholarship category,
# so the IdP releases it the R&S bundle, and publishes an encryption key, so its
# assertions come encrypted. Its metadata is written before the server starts,
# which reads it then; the SP fetches the IdP's metadata on first sign-in.
saml_sp_args=(
  scripts/demo_saml_sp.py --port "$DEMO_SAML_SP_PORT" --key-dir "$DEMO_SAML_SP_DIR" --encrypt
  --entity-category "http://refeds.org/category/research-and-scholarship"
  --requested-attribute mail --requested-attribute displayName
  --idp-metadata "http://127.0.0.1:${PORT}/idp/metadata"
)
"$BIN/python" "${saml_sp_args[@]}" --write-metadata "$DEMO_SAML_SP_DIR/metadata.xml" || exit 1

CAS_URL="http://127.0.0.1:${PORT}" "$BIN/python" scripts/demo_client.py --port "$DEMO_CLIENT_PORT" &
client=$!
"$BIN/python" "${saml_sp_args[@]}" &
saml_sp=$!
CAS_SERVER_CONFIG="$DEMO_CONFIG" CAS_SERVER__PUBLIC_URL="http://127.0.0.1:${PORT}" \
  GUNICORN_BIND="127.0.0.1:${PORT}" GUNICORN_WORKERS="${GUNICORN_WORKERS:-2}" \
  "$BIN/gunicorn" -c config/gunicorn.conf.py wsgi:app &
server=$!

stop() {
  trap - INT TERM
  kill -TERM "$server" "$client" "$saml_sp" 2>/dev/null
  wait "$server" "$client" "$saml_sp" 2>/dev/null
  exit 0
}
trap stop INT TERM
# Any one ending (a port in use, a crash) stops the others.
wait -n "$server" "$client" "$saml_sp"
status=$?
kill -TERM "$server" "$client" "$saml_sp" 2>/dev/null
wait "$server" "$client" "$saml_sp" 2>/dev/null
exit "$status"
