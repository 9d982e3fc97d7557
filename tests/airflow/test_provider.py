"""Airflow discovers the provider through its entry point."""

from __future__ import annotations


def test_providers_manager_finds_signoff() -> None:
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "signoff" in providers
    info = providers["signoff"]
    assert info.data["name"] == "signoff"
    assert info.version == "0.1.0"
