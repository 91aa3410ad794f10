"""Security audit run by `make audit` (and so by `make test` and CI).

1. bandit over the product's code (settings in pyproject.toml, [tool.bandit]):
   any finding fails.
2. pip-audit over the installed environment (.venv, the project itself left
   out): any known vulnerability fails. When its vulnerability service
   cannot be reached (no network, or a mirror without the per-version JSON
   API), nothing could be checked: that is said loudly, and fails only with
   AUDIT_STRICT=1, so a machine without that service can still run the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def bandit() -> bool:
    result = subprocess.run(
        [str(BIN / "bandit"), "-c", "pyproject.toml", "-q", "-r", "cas_server", "wsgi.py"],
        cwd=ROOT,
        check=False,
    )
    print(f"bandit: {'clean' if result.returncode == 0 else 'FINDINGS (see above)'}")
    return result.returncode == 0


def pip_audit() -> bool:
    result = subprocess.run(
        [str(BIN / "pip-audit"), "--progress-spinner", "off", "--skip-editable", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit failed to run:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return False
    packages = report.get("dependencies", [])
    vulnerable = [p for p in packages if p.get("vulns")]
    skipped = [p for p in packages if p.get("skip_reason")]
    audited = len(packages) - len(skipped)
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"pip-audit: {package['name']} {package['version']}: {vuln['id']} ({fixed})")
    if vulnerable:
        print(f"pip-audit: {len(vulnerable)} vulnerable package(s)")
        return False
    if packages and audited == 0:
        print(
            f"pip-audit: WARNING: the vulnerability service could not be reached from this "
            f"machine; NONE of the {len(packages)} packages was checked "
            f"(first reason: {skipped[0]['skip_reason']})"
        )
        return not os.environ.get("AUDIT_STRICT")
    for package in skipped:
        print(f"pip-audit: not checked: {package['name']}: {package['skip_reason']}")
    print(f"pip-audit: {audited} packages checked, no known vulnerability")
    return True


def main() -> int:
    ok = bandit()
    ok = pip_audit() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
