"""Part 5: real engines. Each engine's benchmark runs in that engine's own virtualenv
(Airflow and Prefect cannot share one), as a subprocess that prints one JSON document.

``bench.engines.airflow`` and ``bench.engines.prefect`` each provide
``run(quick: bool, workdir: Path) -> dict`` (called here, from the core environment) and
``section(part: dict) -> list[str]`` (Markdown lines for REPORT.md) plus
``summary(part: dict) -> str | None`` (one summary bullet).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    from bench.engines import airflow, prefect

    results: dict[str, Any] = {}
    for name, mod in (("airflow", airflow), ("prefect", prefect)):
        print(f"-- engines: {name}", flush=True)
        try:
            results[name] = mod.run(quick, workdir / name)
        except Exception:  # one engine failing must not lose the other's figures
            results[name] = {"error": traceback.format_exc(limit=5)}
            print(results[name]["error"], flush=True)
    return results
