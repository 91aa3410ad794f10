#!/usr/bin/env bash
# Throwaway OpenLDAP (slapd 2.5, Debian 12) for tests: built from scratch in a
# temp dir, listening only on 127.0.0.1, mdb backend, ppolicy overlay.
#
#   slapd-test.sh start [PORT] [DIR] [PEOPLE.ldif] [EXTRA.ldif] -> prints "SLAPD_PID=<pid>" etc.
#   slapd-test.sh stop  [DIR]                       -> SIGTERM, waits, removes DIR
#   slapd-test.sh status [DIR]
#
# Used by the test suite (tests/support/servers.py starts it with tests/data/ldap-people.ldif).
# Defaults: PORT=3890, DIR=/tmp/slapd-test-$PORT (or env SLAPD_PORT / SLAPD_DIR).
# Suffix dc=example,dc=org; rootdn cn=admin,dc=example,dc=org / rootpw "adminpw".
# PEOPLE.ldif is loaded offline with slapadd together with the seed (so it may
# set operational attributes such as pwdAccountLockedTime, pwdReset,
# pwdChangedTime, pwdPolicySubentry); EXTRA.ldif is added online with ldapadd.
# The custom auxiliary class casStudent/studentNumber (private schema written
# below) shows how a real custom schema is included.
# Password policy (ppolicy overlay; OpenLDAP 2.5 has its schema built in):
#   cn=default,ou=policies: pwdInHistory=3, min length 8, lockout after 5
#   failures, pwdMustChange (a password set by an admin must be changed).
#   PEOPLE.ldif may add other policies (pwdPolicySubentry names them).
# TLS (optional): with SLAPD_TLS_CERT and SLAPD_TLS_KEY (PEM files), StartTLS is
# offered on PORT, and SLAPD_LDAPS_PORT adds an ldaps:// listener.
# Works as root or as an unprivileged user (port > 1024, everything in DIR).
set -euo pipefail

cmd=${1:-start}
PORT=${2:-${SLAPD_PORT:-3890}}
if [[ $cmd == stop || $cmd == status ]]; then
  DIR=${2:-${SLAPD_DIR:-/tmp/slapd-test-${SLAPD_PORT:-3890}}}
else
  DIR=${3:-${SLAPD_DIR:-/tmp/slapd-test-$PORT}}
fi
PEOPLE_LDIF=${4:-}
EXTRA_LDIF=${5:-}
SUFFIX="dc=example,dc=org"
ROOTDN="cn=admin,$SUFFIX"
ROOTPW="adminpw"
SBIN=/usr/sbin

install_if_missing() {
  if [[ -x $SBIN/slapd && -x /usr/bin/ldapsearch ]]; then return; fi
  if [[ $(id -u) != 0 ]]; then
    echo "slapd/ldap-utils missing and not root: run 'apt-get install slapd ldap-utils' as root" >&2
    exit 1
  fi
  apt-get update -q
  # policy-rc.d in containers stops the packaged slapd from starting; on a host
  # with systemd the packaged one starts on :389 with dc=nodomain - harmless here.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd ldap-utils
}

# A daemon whose parent is PID 1 can linger as a zombie until PID 1 reaps it;
# kill -0 succeeds on zombies, so check the state too.
alive() {
  local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $st && $st != Z* ]]
}

stop() {
  if [[ -f $DIR/slapd.pid ]]; then
    local pid; pid=$(cat "$DIR/slapd.pid")
    if alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then kill -KILL "$pid"; fi
    fi
    echo "slapd $pid stopped"
  fi
  rm -rf "$DIR"
}

start() {
  install_if_missing
  if [[ -f $DIR/slapd.pid ]] && alive "$(cat "$DIR/slapd.pid")"; then
    echo "already running in $DIR (pid $(cat "$DIR/slapd.pid"))" >&2; exit 1
  fi
  rm -rf "$DIR"; mkdir -p "$DIR/data"
  local rootpw_hash; rootpw_hash=$($SBIN/slappasswd -h '{SSHA}' -s "$ROOTPW")

  # Custom schema: private OID arc (example only; use your own PEN in production).
  cat > "$DIR/cas.schema" <<'EOF'
attributetype ( 1.3.6.1.4.1.55555.1.1.1 NAME 'studentNumber'
  DESC 'Student number' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.1.2.1 NAME 'casStudent' SUP top AUXILIARY
  MAY ( studentNumber ) )
EOF

  local tls_conf="" urls="ldap://127.0.0.1:$PORT/"
  if [[ -n ${SLAPD_TLS_CERT:-} && -n ${SLAPD_TLS_KEY:-} ]]; then
    cp "$SLAPD_TLS_CERT" "$DIR/tls-cert.pem"
    cp "$SLAPD_TLS_KEY" "$DIR/tls-key.pem"
    chmod 600 "$DIR/tls-key.pem"
    tls_conf="TLSCertificateFile $DIR/tls-cert.pem
TLSCertificateKeyFile $DIR/tls-key.pem"
    if [[ -n ${SLAPD_LDAPS_PORT:-} ]]; then urls="$urls ldaps://127.0.0.1:$SLAPD_LDAPS_PORT/"; fi
  fi

  cat > "$DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include $DIR/cas.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile  $DIR/slapd.pid
argsfile $DIR/slapd.args
loglevel stats
password-hash {SSHA}
$tls_conf

database mdb
maxsize 67108864
suffix "$SUFFIX"
rootdn "$ROOTDN"
rootpw $rootpw_hash
directory $DIR/data
index objectClass eq
index uid,mail,employeeNumber,studentNumber eq
overlay ppolicy
ppolicy_default "cn=default,ou=policies,$SUFFIX"
ppolicy_hash_cleartext
ppolicy_use_lockout
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to attrs=pwdHistory,pwdFailureTime,pwdAccountLockedTime,pwdChangedTime
  by * none
access to *
  by self read
  by users read
  by anonymous auth
EOF

  cat > "$DIR/seed.ldif" <<EOF
dn: $SUFFIX
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$SUFFIX
objectClass: top
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdInHistory: 3
pwdMinLength: 8
pwdCheckQuality: 1
pwdLockout: TRUE
pwdMaxFailure: 5
pwdLockoutDuration: 300
pwdAllowUserChange: TRUE
pwdSafeModify: FALSE
pwdMustChange: TRUE

EOF

  $SBIN/slaptest -Q -u -f "$DIR/slapd.conf"
  # Offline load: fast, no server needed, bypasses ACLs.
  $SBIN/slapadd -q -f "$DIR/slapd.conf" -l "$DIR/seed.ldif"
  if [[ -n $PEOPLE_LDIF ]]; then
    $SBIN/slapadd -q -f "$DIR/slapd.conf" -l "$PEOPLE_LDIF"
  fi

  # slapd forks into the background by itself (no -d); logs go to syslog only,
  # so use "-d stats 2>log &" instead when debugging.
  if ! $SBIN/slapd -f "$DIR/slapd.conf" -h "$urls"; then
    echo "slapd failed to start (port $PORT in use?). Debug in foreground with:" >&2
    echo "  $SBIN/slapd -d stats -f $DIR/slapd.conf -h '$urls'" >&2
    exit 1
  fi

  for _ in $(seq 1 100); do
    if /usr/bin/ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  /usr/bin/ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base >/dev/null

  if [[ -n $EXTRA_LDIF ]]; then
    /usr/bin/ldapadd -x -H "ldap://127.0.0.1:$PORT" -D "$ROOTDN" -w "$ROOTPW" -f "$EXTRA_LDIF" >/dev/null
  fi
  echo "SLAPD_PID=$(cat "$DIR/slapd.pid")"
  echo "SLAPD_URL=ldap://127.0.0.1:$PORT"
  echo "SLAPD_DIR=$DIR"
  echo "SLAPD_BASE=$SUFFIX"
  echo "SLAPD_ROOTDN=$ROOTDN"
  echo "SLAPD_ROOTPW=$ROOTPW"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status)
    if [[ -f $DIR/slapd.pid ]] && alive "$(cat "$DIR/slapd.pid")"; then
      echo "running pid $(cat "$DIR/slapd.pid")"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start [PORT] [DIR] [PEOPLE.ldif] [EXTRA.ldif] | stop [DIR] | status [DIR]" >&2; exit 2 ;;
esac
