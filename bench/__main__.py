"""``python -m bench [--quick] [--parts 1,...,7] [--report-only]``: run, then write REPORT.md."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import common

PARTS = {
    "1": ("waiting", "bench.waiting"),
    "2": ("service", "bench.service"),
    "3": ("delivery", "bench.delivery"),
    "4": ("subscriptions", "bench.subscriptions"),
    "5": ("engines", "bench.engines"),
    "6": ("profiles", "bench.profiles"),
    "7": ("policies", "bench.policies"),
    "8": ("notifications", "bench.notifications"),
}
RESULTS = common.BENCH_DIR / "results.json"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_waiter":
        from bench.waiting import waiter_main

        waiter_main(argv[1:])
        return 0
    if argv and argv[0] == "_load":
        from bench.service import load_main

        load_main(argv[1:])
        return 0
    if argv and argv[0] == "_policy_load":
        from bench.policies import load_main as policy_load_main

        policy_load_main(argv[1:])
        return 0
    if argv and argv[0] == "_receiver":
        from bench.delivery import receiver_main

        receiver_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument(
        "--parts",
        default="1,2,3,4,5,6,7,8",
        help="parts: 1-5, 6 (profiles), 7 (policies), 8 (notifications)",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite REPORT.md only")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    args = parser.parse_args(argv)

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report_only:
        import importlib

        common.raise_fd_limit()
        parts = [p.strip() for p in args.parts.split(",")]
        if "machine" not in results or "1" in parts:  # a partial rerun keeps the first run's
            results["machine"] = common.machine()
            results["quick"] = args.quick
            results["load_before"] = common.loadavg()
        workdir = Path(tempfile.mkdtemp(prefix="signoff-bench-"))
        try:
            for part in parts:
                name, module = PARTS[part]
                print(f"== part {part}: {name} (load average {common.loadavg()})", flush=True)
                t, started_at = time.monotonic(), time.time()
                mod = importlib.import_module(module)
                kwargs: dict[str, bool] = {}
                if name == "service":
                    kwargs["profile"] = not args.no_profile
                results[name] = mod.run(args.quick, workdir, **kwargs)
                results[name]["wall_s"] = time.monotonic() - t
                results[name]["started"] = time.strftime("%H:%M:%S", time.localtime(started_at))
                results[name]["load_after"] = common.loadavg()
                RESULTS.write_text(json.dumps(results, indent=1))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results["total_wall_s"] = sum(
            v.get("wall_s", 0) for v in results.values() if isinstance(v, dict)
        )
        results["load_after"] = common.loadavg()
        RESULTS.write_text(json.dumps(results, indent=1))
    from bench.report import write_report

    write_report(results)
    print(f"wrote {common.BENCH_DIR / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
