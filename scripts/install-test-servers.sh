#!/usr/bin/env bash
# Installs what the test suite drives from outside Python: one function per
# component, each skipping what is already there, so running it again is quick
# (a second run does nothing and touches no network).
#
#   bash scripts/install-test-servers.sh            # everything
#   bash scripts/install-test-servers.sh chromium   # some components only
#
# Debian packages need root (CI runs as root); as another user the script
# says what is missing and goes on, and the tests that need it skip
# (or fail when CI is set).
set -euo pipefail
cd "$(dirname "$0")/.."

AXE_CORE_VERSION=4.14.1        # pinned: `npm view axe-core version`
CACHE_DIR=.cache

APT_UPDATED=0

log() { printf '[install-test-servers] %s\n' "$*"; }

# apt_install PACKAGE...: installs Debian packages (one `apt-get update` per run).
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "not root: cannot install $*; install them with apt-get as root"
        return 0
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        apt-get update -q
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# Headless browser for tests/browser (driven by Playwright; never `playwright install`).
install_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        log "chromium: present ($(command -v chromium))"
        return 0
    fi
    log "chromium: installing"
    apt_install chromium
}

# axe-core, the accessibility rules engine injected into pages by tests/browser.
install_axe_core() {
    local js="$CACHE_DIR/axe-core/node_modules/axe-core/axe.min.js"
    local pkg="$CACHE_DIR/axe-core/node_modules/axe-core/package.json"
    if [ -f "$js" ] && grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$pkg" 2>/dev/null; then
        log "axe-core: present ($AXE_CORE_VERSION)"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "axe-core: npm missing, installing it"
        apt_install npm
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "axe-core: npm not available, skipped"
        return 0
    fi
    log "axe-core: installing $AXE_CORE_VERSION into $CACHE_DIR/axe-core"
    mkdir -p "$CACHE_DIR/axe-core"
    npm install --no-audit --no-fund --loglevel=error --prefix "$CACHE_DIR/axe-core" \
        "axe-core@$AXE_CORE_VERSION"
}

# OpenLDAP server and client tools for tests/auth/ldap (scripts/slapd-test.sh).
install_slapd() {
    if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
        if command -v ldapsearch >/dev/null 2>&1; then
            log "slapd: present"
            return 0
        fi
    fi
    log "slapd: installing slapd ldap-utils"
    apt_install slapd ldap-utils
}

# Redis 7 for the Redis ticket registry and counters, and redis-sentinel for
# the failover tests (tests/ha; started by the tests).
install_redis() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-sentinel >/dev/null 2>&1; then
        log "redis: present ($(command -v redis-server), $(command -v redis-sentinel))"
        return 0
    fi
    log "redis: installing redis-server redis-sentinel"
    apt_install redis-server redis-sentinel
}

# PostgreSQL 15 (throwaway clusters made by the tests with initdb/pg_ctl).
# Often already in the image: never reinstall it (that would upgrade it).
install_postgresql() {
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
        log "postgresql: present (/usr/lib/postgresql/15/bin)"
        return 0
    fi
    log "postgresql: installing postgresql"
    apt_install postgresql
}

# systemd-analyze and systemd-sysusers for tests/ops/test_systemd_units.py
# (offline checks of config/systemd/; nothing is started).
install_systemd() {
    if command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-sysusers >/dev/null 2>&1; then
        log "systemd-analyze: present ($(command -v systemd-analyze))"
        return 0
    fi
    log "systemd-analyze: installing systemd"
    apt_install systemd
}

# xmlsec1, the XML signature and encryption tool pysaml2 runs for the SAML IdP's
# encrypted assertions and federation aggregates (tests/saml, tests/e2e, tests/browser).
install_xmlsec1() {
    if command -v xmlsec1 >/dev/null 2>&1; then
        log "xmlsec1: present ($(command -v xmlsec1))"
        return 0
    fi
    log "xmlsec1: installing xmlsec1"
    apt_install xmlsec1
}

# Shibboleth SP 3 (mod_shib in Apache, and shibd) for tests/browser/test_saml_shibboleth.py;
# tests/support/shibboleth.py starts its own Apache and shibd (own configuration, free
# port, stopped by the test): the services the packages install are never used.
install_shibboleth() {
    if [ -x /usr/sbin/apache2 ] && [ -x /usr/sbin/shibd ] \
        && [ -f /usr/lib/apache2/modules/mod_shib.so ]; then
        log "shibboleth: present (/usr/sbin/apache2, /usr/sbin/shibd, mod_shib)"
        return 0
    fi
    log "shibboleth: installing apache2 libapache2-mod-shib"
    apt_install apache2 libapache2-mod-shib
}

# Later components get their own install_<name> function and an entry in ALL below.
ALL=(chromium axe_core slapd redis postgresql systemd xmlsec1 shibboleth)

main() {
    local components=("$@")
    if [ "${#components[@]}" = 0 ]; then
        components=("${ALL[@]}")
    fi
    local c
    for c in "${components[@]}"; do
        "install_${c//-/_}"
    done
}

main "$@"
