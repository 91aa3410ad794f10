"""The LDAP directory as a user source (ldap3): a pool of connections to the directory's
servers (``pool``), the source that binds as the person (``source``), password
writes to the directory (``passwords``) and the nightly shadow-account sync (``sync``)."""
