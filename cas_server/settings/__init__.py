"""Every reader of configuration: TOML files and ``CAS_*`` environment variables, read in
``create_app`` only and checked once (a wrong value names its key).

| module | what it reads |
|---|---|
| ``server`` | the server file: ``[server]``, ``[database]``, ``[tickets]``, ``[login]``… |
| ``environment`` | ``CAS_<SECTION>__<KEY>`` overrides, typed like the defaults |
| ``services`` | the service definition files (the service registry) |
| ``sesame`` | ``[sesame]``, ``[mail]``, ``[sms]``, ``[captcha]`` |
| ``console`` | ``[admin]`` |
| ``profile`` | ``[profile]`` and the privacy notices |
| ``charters`` | the charters file and its texts |
| ``policies``, ``policy_config`` | the password policy files |
| ``infrastructure`` | ``[auth]``, ``[ldap]``, ``[redis]``, backends, health, metrics, logging |
"""
