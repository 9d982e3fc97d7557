"""Real Airflow, in a throw-away AIRFLOW_HOME with its own SQLite metadata database."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="signoff-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
