"""Prefect loads the integration through the ``prefect.collections`` entry point."""

from __future__ import annotations


def test_prefect_loads_signoff_prefect() -> None:
    from prefect.plugins import load_prefect_collections

    collections = load_prefect_collections()
    assert "signoff_prefect" in collections
    assert collections["signoff_prefect"].__version__ == "0.1.0"
