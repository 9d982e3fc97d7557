"""signoff's benchmarks: ``bash bench/run`` (or ``python -m bench``) writes bench/REPORT.md."""
