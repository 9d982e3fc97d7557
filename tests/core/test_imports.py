"""What importing a part of signoff loads: the service never loads the clients."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_importing_the_server_does_not_import_the_client() -> None:
    run("import signoff.server, sys; assert 'signoff.client' not in sys.modules")


def test_the_top_level_names_still_import() -> None:
    run(
        "import sys\n"
        "import signoff\n"
        "assert 'signoff.client' not in sys.modules\n"
        "from signoff import (Approval, ApprovalExpired, ApprovalRejected, ApprovalStatus,\n"
        "    ApprovalsClient, AsyncApprovalsClient, DecisionTimeout, RiskLevel, SignoffError,\n"
        "    __version__)\n"
        "from signoff.client import ApprovalsClient as Defined\n"
        "assert ApprovalsClient is Defined and signoff.RiskLevel is RiskLevel\n"
        "assert set(signoff.__all__) <= set(dir(signoff))\n"
        "try:\n"
        "    signoff.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('signoff.NoSuchName')\n"
    )
