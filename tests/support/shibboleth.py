"""Shibboleth SP 3 (Debian ``libapache2-mod-shib``) in a throwaway Apache, for the SAML tests.

:func:`running_shibboleth` writes, under a fresh folder of the system's temporary
directory, an Apache ``ServerRoot`` (``httpd.conf``: ``mpm_prefork``, ``mod_cgi``,
``mod_shib``, one ``Listen 127.0.0.1:PORT``) and a Shibboleth configuration of its own
(``shibboleth2.xml``, ``attribute-map.xml`` with the eduPerson and SupAnn OIDs,
``attribute-policy.xml``, a generated RSA key pair published in the SP's metadata for
signing and encryption, so that an IdP that encrypts for SPs with a key does), then starts
``shibd -F`` and ``apache2 -DFOREGROUND`` in the foreground, each in its own session, and
stops both (SIGTERM, then SIGKILL) on the way out. ``/secure/`` is protected
(``AuthType shibboleth``, ``Require shib-session``) and answers, from a shell CGI, the
environment Shibboleth gave the application (its ``Shib-*`` variables and the mapped
attributes; :func:`session_attributes` reads it); ``/public/`` is a lazy session (no
session required) with the same dump, for ``isPassive`` and after a logout.

The IdP's metadata is a file (``idp-metadata.xml``) watched by shibd
(``reloadChanges``): :meth:`ShibbolethSP.trust_idp` writes it and waits until shibd has
loaded it, so the SP can be started before the IdP (whose configuration needs the SP's
metadata, fetched from the running SP with :meth:`ShibbolethSP.metadata`).

Traps found on the way (Shibboleth SP 3.4.1, Debian bookworm, run as root or not):

- Relative paths in ``shibboleth2.xml`` resolve against ``/etc/shibboleth``
  (``SHIBSP_CFGDIR``), not against the file's folder: every path written here is
  absolute, and the package's own ``protocols.xml``, ``security-policy.xml`` and error
  templates are named in ``/etc/shibboleth`` where the package put them.
- Both halves log to ``/var/log/shibboleth*`` (or syslog) unless told: ``<SPConfig
  logger=…>`` is the in-process (mod_shib) logger, ``<OutOfProcess logger=…>`` shibd's;
  both point at files of the folder here (``shibd.log``, ``native.log``).
- ``shibd -t -c FILE`` checks a configuration (its complaints go to the console, not
  to the logger); :func:`check_config` runs it before starting anything.
- shibd's socket and pid file default to ``/run/shibboleth``: ``<UnixListener
  address=…>`` (absolute) and ``-p``; ``-f`` removes a stale socket.
- Apache started as root refuses to run its children as root: with ``User www-data``
  they run as www-data, which must be able to reach the folder (not pytest's 0700
  ``tmp_path``: a ``tempfile.mkdtemp`` folder made 0755, as the PostgreSQL fixture does)
  and shibd's socket. Not root: no ``User`` line, everything runs as the caller.
- Shibboleth assumes TLS since SP 3.0: ``handlerSSL="false"`` and ``cookieProps="http"``
  (no ``Secure``) are needed on ``http://127.0.0.1``, or the session cookie never comes
  back and each SSO loops.
- In ``shibboleth2.xml``'s ``<Sessions>``, ``<SSO>`` and ``<Logout>`` come before any
  ``<SessionInitiator>`` or ``<Handler>`` (schema order), or shibd refuses the file.
- ``isPassive``: a ``NoPassive`` answer is an error for Shibboleth (its error page, no
  session) unless ``<Errors redirectErrors=…>`` sends errors to the application; left
  at the default here, so the tests see what a stock SP does.
- Shibboleth signs its front-channel ``LogoutRequest`` and, when the IdP's metadata has
  an encryption key, sends the NameID as an ``EncryptedID`` (its defaults): the IdP
  must decrypt it.
- A CGI sees ``Shib_Identity_Provider`` and ``pairwise_id``: Apache rewrites the
  ``-`` of environment names; the dump puts the dashes back.
- The default attribute filter keeps a scoped attribute (``eduPersonPrincipalName``,
  ``pairwise-id``, ``subject-id``) only when its scope is one of the IdP's
  ``<shibmd:Scope>`` in its metadata, and a persistent NameID only when its qualifiers
  are the IdP's and the SP's entity ids: the same filter is used here, so an IdP without
  ``shibmd:Scope`` loses those attributes here as at any federation member.
- The IdP's metadata is a local file with ``reloadChanges="true"`` (no remote
  ``MetadataProvider`` to fail while the IdP is not up yet): shibd reloads it when its
  mtime changes, but the file must pass shibd's checks at start, or the provider is
  dropped for good and never reloaded: an empty ``EntitiesDescriptor`` fails them
  ("must contain at least one child"); a placeholder IdP entity passes.
- ``/Shibboleth.sso/Metadata`` builds the SP's metadata from the request's host and
  port: fetch it at the URL the browser will use (``http://127.0.0.1:PORT``).

The binaries come from ``scripts/install-test-servers.sh shibboleth``; without them
:func:`running_shibboleth` skips (fails under ``CI``), see :func:`tests.support.servers.missing`.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

import requests

from tests.support.ports import free_port, wait_port
from tests.support.servers import missing

APACHE = Path(os.environ.get("APACHE2", "/usr/sbin/apache2"))
SHIBD = Path(os.environ.get("SHIBD", "/usr/sbin/shibd"))
MODULES = Path("/usr/lib/apache2/modules")
PACKAGE_CONFIG = Path("/etc/shibboleth")  # protocols.xml, security-policy.xml, templates
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
INSTALL_HINT = "run `bash scripts/install-test-servers.sh shibboleth` as root"

# What shibd loads before the IdP's metadata comes: a valid file (an empty
# EntitiesDescriptor fails shibd's checks and the provider is then dropped for good).
PLACEHOLDER_METADATA = """\
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:example:placeholder">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="http://127.0.0.1:1/sso"/>
  </IDPSSODescriptor>
</EntityDescriptor>
"""

# Attribute names as the IdP sends them (SAML2 URI format) -> the ids the application sees.
# eduPerson (202208), inetOrgPerson, SupAnn 2021 (1.3.6.1.4.1.7135.1.2.1.x), schac, and
# the SAML V2.0 Subject Identifier attributes.
SCOPED = "ScopedAttributeDecoder"
ATTRIBUTES: tuple[tuple[str, str, str | None], ...] = (
    ("urn:oasis:names:tc:SAML:attribute:subject-id", "subject-id", SCOPED),
    ("urn:oasis:names:tc:SAML:attribute:pairwise-id", "pairwise-id", SCOPED),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "eppn", SCOPED),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.9", "affiliation", SCOPED),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "unscoped-affiliation", None),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.5", "primary-affiliation", None),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "entitlement", None),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.11", "assurance", None),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.10", "persistent-id", "NameID"),
    ("urn:oid:2.5.4.3", "cn", None),
    ("urn:oid:2.5.4.4", "sn", None),
    ("urn:oid:2.5.4.42", "givenName", None),
    ("urn:oid:2.16.840.1.113730.3.1.241", "displayName", None),
    ("urn:oid:0.9.2342.19200300.100.1.1", "uid", None),
    ("urn:oid:0.9.2342.19200300.100.1.3", "mail", None),
    ("urn:oid:2.5.4.20", "telephoneNumber", None),
    ("urn:oid:2.16.840.1.113730.3.1.39", "preferredLanguage", None),
    ("urn:oid:1.3.6.1.4.1.25178.1.2.9", "schacHomeOrganization", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.14", "supannEtablissement", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.18", "supannEtuId", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.11", "supannEmpId", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.44", "supannCivilite", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.23", "supannEntiteAffectation", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.5", "supannEtuEtape", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.3", "supannAutreTelephone", None),
    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.16", "supannListeRouge", None),
)
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
EXPORTED = tuple(sorted({a[1] for a in ATTRIBUTES} | {"persistent-id", "transient-id"}))

# The application behind /secure/ and /public/: its environment, as Shibboleth filled it
# (a shell CGI: no interpreter to find for Apache's www-data; parsed by session_attributes).
DUMP_CGI = """#!/bin/sh
printf 'Content-Type: text/html; charset=utf-8\\r\\nCache-Control: no-store\\r\\n\\r\\n'
printf '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SP</title></head>'
printf '<body><main><h1>Shibboleth SP test application</h1><pre id="attributes">\\n'
env | sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g'
printf '</pre></main></body></html>\\n'
"""


@dataclass
class ShibbolethSP:
    """A running Shibboleth SP: Apache on ``url``, shibd, their configuration in ``folder``."""

    folder: Path
    port: int
    entity_id: str
    idp_entity_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def secure(self) -> str:
        """The protected page: a visit without a session starts SSO (Redirect binding)."""
        return self.url + "/secure/"

    @property
    def public(self) -> str:
        """A page without a required session (the same dump, empty without a session)."""
        return self.url + "/public/"

    def login_url(
        self, target: str | None = None, *, initiator: str = "Login", **params: str
    ) -> str:
        """``/Shibboleth.sso/<initiator>?target=…`` (``forceAuthn``, ``isPassive`` as params).

        ``Login`` sends the AuthnRequest with the Redirect binding, ``LoginPost`` with POST.
        """
        query = {"target": target or self.secure, **params}
        return f"{self.url}/Shibboleth.sso/{initiator}?{urlencode(query)}"

    def logout_url(self, return_to: str | None = None) -> str:
        """``/Shibboleth.sso/Logout``: SAML 2 single logout through the IdP, then ``return``."""
        query = "" if return_to is None else "?" + urlencode({"return": return_to})
        return f"{self.url}/Shibboleth.sso/Logout{query}"

    @property
    def session_url(self) -> str:
        return self.url + "/Shibboleth.sso/Session"

    def metadata(self) -> bytes:
        """The SP's metadata as Shibboleth generates it (``/Shibboleth.sso/Metadata``)."""
        answer = requests.get(self.url + "/Shibboleth.sso/Metadata", timeout=10)
        answer.raise_for_status()
        return answer.content

    def trust_idp(self, metadata: bytes, timeout: float = 20.0) -> None:
        """Hand shibd the IdP's metadata and wait until it has loaded it."""
        path = self.folder / "idp-metadata.xml"
        log = self.folder / "shibd.log"
        before = log.stat().st_size if log.exists() else 0
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(metadata)
        tmp.chmod(0o644)
        os.replace(tmp, path)
        # reloadChanges looks at the mtime (whole seconds on some file systems).
        future = time.time() + 2
        os.utime(path, (future, future))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(OSError):
                with log.open("rb") as f:
                    f.seek(before)
                    new = f.read().decode("utf-8", "replace")
                if "idp-metadata.xml" in new and ("ERROR" in new or "CRIT" in new):
                    raise AssertionError(f"shibd refused the IdP metadata:\n{new[-3000:]}")
            if self._knows_idp():
                return
            time.sleep(0.2)
        raise AssertionError(f"shibd did not load the IdP metadata:\n{tail(log)}")

    def _knows_idp(self) -> bool:
        """The SP's status handler lists the IdP's entity id once its metadata is loaded."""
        try:
            answer = requests.get(
                self.login_url(self.public, entityID=self.idp_entity_id),
                timeout=5,
                allow_redirects=False,
            )
        except requests.RequestException:
            return False
        return answer.status_code == 302

    def logs(self) -> str:
        parts = []
        for name in ("shibd.log", "native.log", "apache-error.log", "shibd.out"):
            parts.append(f"--- {name}\n{tail(self.folder / name)}")
        return "\n".join(parts)


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return "(none)"


def key_pair(folder: Path, name: str, common_name: str, bits: int = 2048) -> tuple[Path, Path]:
    """A self-signed RSA key and certificate (PEM), as a federation member makes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}-key.pem", folder / f"{name}-cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_file.chmod(0o644)
    return key_file, cert_file


def attribute_map_xml() -> str:
    rows = []
    for name, ident, decoder in ATTRIBUTES:
        if decoder == "NameID":
            rows.append(
                f'  <Attribute name="{name}" id="{ident}">\n'
                '    <AttributeDecoder xsi:type="NameIDAttributeDecoder" '
                'formatter="$NameQualifier!$SPNameQualifier!$Name" defaultQualifiers="true"/>\n'
                "  </Attribute>"
            )
        elif decoder:
            rows.append(
                f'  <Attribute name="{name}" id="{ident}">\n'
                f'    <AttributeDecoder xsi:type="{decoder}" caseSensitive="false"/>\n'
                "  </Attribute>"
            )
        else:
            rows.append(f'  <Attribute name="{name}" id="{ident}"/>')
    # NameIDs: persistent as Shibboleth's own map does; transient kept as is.
    rows.append(
        f'  <Attribute name="{PERSISTENT}" id="persistent-id">\n'
        '    <AttributeDecoder xsi:type="NameIDAttributeDecoder" '
        'formatter="$NameQualifier!$SPNameQualifier!$Name" defaultQualifiers="true"/>\n'
        "  </Attribute>"
    )
    rows.append(
        f'  <Attribute name="{TRANSIENT}" id="transient-id">\n'
        '    <AttributeDecoder xsi:type="NameIDAttributeDecoder" formatter="$Name"/>\n'
        "  </Attribute>"
    )
    return (
        '<Attributes xmlns="urn:mace:shibboleth:2.0:attribute-map" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + "\n".join(rows)
        + "\n</Attributes>\n"
    )


# The package's default filter, in short: scoped values must carry one of the IdP's
# metadata scopes, persistent ids the right qualifiers, everything else passes.
ATTRIBUTE_POLICY = """\
<AttributeFilterPolicyGroup xmlns="urn:mace:shibboleth:2.0:afp"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <PermitValueRule id="ScopingRules" xsi:type="AND">
    <Rule xsi:type="NOT"><Rule xsi:type="ValueRegex" regex="@"/></Rule>
    <Rule xsi:type="ScopeMatchesShibMDScope"/>
  </PermitValueRule>
  <AttributeFilterPolicy>
    <PolicyRequirementRule xsi:type="ANY"/>
    <AttributeRule attributeID="affiliation">
      <PermitValueRuleReference ref="ScopingRules"/>
    </AttributeRule>
    <AttributeRule attributeID="subject-id">
      <PermitValueRuleReference ref="ScopingRules"/>
    </AttributeRule>
    <AttributeRule attributeID="pairwise-id">
      <PermitValueRuleReference ref="ScopingRules"/>
    </AttributeRule>
    <AttributeRule attributeID="eppn">
      <PermitValueRuleReference ref="ScopingRules"/>
    </AttributeRule>
    <AttributeRule attributeID="persistent-id">
      <PermitValueRule xsi:type="NameIDQualifierString"/>
    </AttributeRule>
    <AttributeRule attributeID="*" permitAny="true"/>
  </AttributeFilterPolicy>
</AttributeFilterPolicyGroup>
"""

LOGGER = """\
log4j.rootCategory={level}, file
log4j.category.Shibboleth-TRANSACTION=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.fileName={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{{%Y-%m-%d %H:%M:%S}} %p %c %x: %m%n
"""


def shibboleth2_xml(folder: Path, entity_id: str, idp_entity_id: str) -> str:
    f = folder
    a = quoteattr
    post = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    redirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    return f"""\
<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config"
    xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config"
    clockSkew="180" logger={a(str(f / "native.logger"))}>
  <OutOfProcess logger={a(str(f / "shibd.logger"))}
      tranLogFormat="%u|%s|%IDP|%i|%ac|%t|%attr|%n|%b|%E|%S|%SS|%L|%UA|%a"/>
  <UnixListener address={a(str(f / "run" / "shibd.sock"))}/>
  <StorageService type="Memory" id="mem" cleanupInterval="900"/>
  <SessionCache type="StorageService" StorageService="mem" cacheAssertions="false"
      cacheAllowance="900" inprocTimeout="900" cleanupInterval="900"/>
  <ReplayCache StorageService="mem"/>
  <ApplicationDefaults entityID={a(entity_id)}
      REMOTE_USER="eppn subject-id pairwise-id persistent-id">
    <Sessions lifetime="28800" timeout="3600" relayState="ss:mem"
        checkAddress="false" handlerSSL="false" cookieProps="http"
        redirectLimit="host" consistentAddress="true">
      <SSO entityID={a(idp_entity_id)} outgoingBindings="{redirect} {post}">SAML2</SSO>
      <Logout>SAML2 Local</Logout>
      <!-- After SSO and Logout: the schema wants that order. -->
      <SessionInitiator type="SAML2" Location="/LoginPost" isDefault="false"
          entityID={a(idp_entity_id)} outgoingBindings="{post}" NameIDFormat="{PERSISTENT}"
          template={a(str(PACKAGE_CONFIG / "bindingTemplate.html"))}/>
      <Handler type="MetadataGenerator" Location="/Metadata" signing="false"/>
      <Handler type="Status" Location="/Status" acl="127.0.0.1 ::1"/>
      <Handler type="Session" Location="/Session" showAttributeValues="true"/>
    </Sessions>
    <Errors supportContact="root@localhost"
        session={a(str(PACKAGE_CONFIG / "sessionError.html"))}
        metadata={a(str(PACKAGE_CONFIG / "metadataError.html"))}
        access={a(str(PACKAGE_CONFIG / "accessError.html"))}
        ssl={a(str(PACKAGE_CONFIG / "sslError.html"))}
        localLogout={a(str(PACKAGE_CONFIG / "localLogout.html"))}
        globalLogout={a(str(PACKAGE_CONFIG / "globalLogout.html"))}
        partialLogout={a(str(PACKAGE_CONFIG / "partialLogout.html"))}/>
    <MetadataProvider type="XML" validate="false" reloadChanges="true"
        path={a(str(f / "idp-metadata.xml"))}/>
    <AttributeExtractor type="XML" validate="true" reloadChanges="false"
        path={a(str(f / "attribute-map.xml"))}/>
    <AttributeFilter type="XML" validate="true" path={a(str(f / "attribute-policy.xml"))}/>
    <CredentialResolver type="File" key={a(str(f / "sp-key.pem"))}
        certificate={a(str(f / "sp-cert.pem"))}/>
  </ApplicationDefaults>
  <SecurityPolicyProvider type="XML" validate="true"
      path={a(str(PACKAGE_CONFIG / "security-policy.xml"))}/>
  <ProtocolProvider type="XML" validate="true" reloadChanges="false"
      path={a(str(PACKAGE_CONFIG / "protocols.xml"))}/>
</SPConfig>
"""


def httpd_conf(folder: Path, port: int) -> str:
    f = folder
    modules = ["mpm_prefork", "authz_core", "authn_core", "alias", "cgi", "mime", "env"]
    loads = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in modules)
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    return f"""\
ServerRoot "{f}"
{loads}
LoadModule mod_shib {MODULES}/mod_shib.so
{user}Listen 127.0.0.1:{port}
ServerName 127.0.0.1:{port}
UseCanonicalName On
PidFile "{f / "run" / "httpd.pid"}"
DefaultRuntimeDir "{f / "run"}"
Mutex file:{f / "run"} default
ErrorLog "{f / "apache-error.log"}"
LogLevel warn
LogFormat "%h %t \\"%r\\" %>s %b" common
CustomLog "{f / "apache-access.log"}" common
TypesConfig /etc/mime.types
StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 16
Timeout 30
DocumentRoot "{f / "htdocs"}"
<Directory />
  Require all denied
  AllowOverride None
</Directory>
<Directory "{f / "htdocs"}">
  Require all granted
</Directory>
ShibConfig "{f / "shibboleth2.xml"}"
ShibCompatValidUser Off
<Location /Shibboleth.sso>
  SetHandler shib
  Require all granted
</Location>
ScriptAlias /secure/ "{f / "cgi" / "dump.py"}/"
ScriptAlias /public/ "{f / "cgi" / "dump.py"}/"
<Directory "{f / "cgi"}">
  Require all granted
  Options +ExecCGI
</Directory>
<Location /secure>
  AuthType shibboleth
  ShibRequestSetting requireSession 1
  ShibUseEnvironment On
  ShibUseHeaders Off
  Require shib-session
</Location>
<Location /public>
  AuthType shibboleth
  ShibRequestSetting requireSession 0
  ShibUseEnvironment On
  Require shibboleth
</Location>
"""


def write_config(folder: Path, port: int, entity_id: str, idp_entity_id: str) -> None:
    for sub in ("run", "htdocs", "cgi"):
        (folder / sub).mkdir(mode=0o755)
    key_pair(folder, "sp", "127.0.0.1")
    # shibd reads the key; when root, it runs as root, and Apache's children never need it.
    (folder / "shibboleth2.xml").write_text(
        shibboleth2_xml(folder, entity_id, idp_entity_id), encoding="utf-8"
    )
    (folder / "attribute-map.xml").write_text(attribute_map_xml(), encoding="utf-8")
    (folder / "attribute-policy.xml").write_text(ATTRIBUTE_POLICY, encoding="utf-8")
    (folder / "idp-metadata.xml").write_text(PLACEHOLDER_METADATA, encoding="utf-8")
    (folder / "shibd.logger").write_text(
        LOGGER.format(level="INFO", path=folder / "shibd.log"), encoding="utf-8"
    )
    (folder / "native.logger").write_text(
        LOGGER.format(level="INFO", path=folder / "native.log"), encoding="utf-8"
    )
    (folder / "httpd.conf").write_text(httpd_conf(folder, port), encoding="utf-8")
    (folder / "htdocs" / "index.html").write_text(
        '<!doctype html><html lang="en"><title>SP</title><p>SP</p></html>\n', encoding="utf-8"
    )
    dump = folder / "cgi" / "dump.py"
    dump.write_text(DUMP_CGI, encoding="utf-8")
    dump.chmod(0o755)
    for name in ("native.log", "apache-error.log", "apache-access.log"):
        (folder / name).touch(mode=0o666)
        (folder / name).chmod(0o666)  # written by Apache's children (www-data when root)
    if os.geteuid() == 0:
        shutil.chown(folder / "native.log", "www-data", "www-data")


def check_config(folder: Path) -> None:
    """``shibd -t``: the configuration loads (fails the test with shibd's complaint)."""
    result = subprocess.run(
        [str(SHIBD), "-t", "-c", str(folder / "shibboleth2.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=shib_env(folder),
    )
    if result.returncode != 0 or "overall configuration is loadable" not in (
        result.stdout + result.stderr
    ):
        raise AssertionError(
            f"shibd -t refused the configuration:\n{result.stdout}\n{result.stderr}\n"
            f"{tail(folder / 'shibd.log')}"
        )


def shib_env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SHIBSP_RUNDIR": str(folder / "run"),
        "SHIBSP_CACHEDIR": str(folder / "run"),
        "SHIBSP_LOGDIR": str(folder),
    }


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def require_binaries() -> None:
    for binary in (APACHE, SHIBD, MODULES / "mod_shib.so", MODULES / "mod_cgi.so"):
        if not binary.exists():
            missing(f"Shibboleth SP is not installed ({binary} missing): {INSTALL_HINT}")
    if not (PACKAGE_CONFIG / "protocols.xml").exists():
        missing(f"{PACKAGE_CONFIG}/protocols.xml missing: {INSTALL_HINT}")


@contextmanager
def running_shibboleth(
    idp_entity_id: str, *, entity_id: str | None = None, keep: bool = False
) -> Iterator[ShibbolethSP]:
    """Apache + mod_shib + shibd on a free port of 127.0.0.1, stopped on the way out.

    ``idp_entity_id``: the IdP the SP sends its AuthnRequests to (its metadata comes later,
    :meth:`ShibbolethSP.trust_idp`). ``keep``: leave the folder for a post-mortem.
    """
    require_binaries()
    port = free_port()
    # Not pytest's 0700 tmp_path: Apache's children (www-data under root) must read it.
    folder = Path(tempfile.mkdtemp(prefix="cas-shib-"))
    folder.chmod(0o755)
    sp = ShibbolethSP(
        folder=folder,
        port=port,
        entity_id=entity_id or f"http://127.0.0.1:{port}/shibboleth",
        idp_entity_id=idp_entity_id,
    )
    write_config(folder, port, sp.entity_id, idp_entity_id)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        check_config(folder)
        with (folder / "shibd.out").open("wb") as out:
            shibd = subprocess.Popen(
                [
                    str(SHIBD),
                    "-F",
                    "-f",
                    "-c",
                    str(folder / "shibboleth2.xml"),
                    "-p",
                    str(folder / "run" / "shibd.pid"),
                ],
                env=shib_env(folder),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(shibd)
        socket_path = folder / "run" / "shibd.sock"
        deadline = time.monotonic() + START_TIMEOUT
        while not socket_path.exists():
            if shibd.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"shibd did not start:\n{sp.logs()}")
            time.sleep(0.1)
        if os.geteuid() == 0:
            socket_path.chmod(0o777)  # Apache's children (www-data) connect to it
        with (folder / "apache.out").open("wb") as out:
            apache = subprocess.Popen(
                [str(APACHE), "-d", str(folder), "-f", str(folder / "httpd.conf"), "-DFOREGROUND"],
                env={**shib_env(folder), "APACHE_RUN_DIR": str(folder / "run")},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(apache)
        if not wait_port(port, START_TIMEOUT) or apache.poll() is not None:
            raise AssertionError(
                f"Apache did not start:\n{tail(folder / 'apache.out')}\n{sp.logs()}"
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(sp.url + "/Shibboleth.sso/Metadata", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"/Shibboleth.sso/Metadata did not answer:\n{sp.logs()}")
            time.sleep(0.2)
        yield sp
    finally:
        for process in reversed(processes):
            _stop(process)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def session_attributes(body: str) -> dict[str, str]:
    """What ``/secure/`` or ``/public/`` received from Shibboleth: its ``Shib-*`` variables,
    the mapped attributes (``eppn``, ``pairwise-id``…) and ``REMOTE_USER``.

    Apache's CGI environment turns the ``-`` of a name into ``_``: the dashes come back.
    """
    start = body.index('<pre id="attributes">') + len('<pre id="attributes">')
    end = body.index("</pre>", start)
    text = body[start:end].replace("&lt;", "<").replace("&amp;", "&")
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep:
            continue
        dashed = name.replace("_", "-")
        if dashed.startswith("Shib-") or dashed in EXPORTED:
            out[dashed] = value
        elif name == "REMOTE_USER":
            out[name] = value
    return out
