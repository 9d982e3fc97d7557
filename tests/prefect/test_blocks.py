"""Prefect's own standard checks for the credentials blocks."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from signoff_prefect import SignoffCredentials, SignoffWebhooksCredentials
from signoff_prefect.credentials import LOGO_FILE


@pytest.mark.parametrize("block", [SignoffCredentials, SignoffWebhooksCredentials])
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block: type[Block]) -> type[Block]:
        return block

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        """The suite's own check downloads ``_logo_url``; these machines have no network,
        so the same rules are checked on the logo the package ships."""
        from PIL import Image

        assert str(block._logo_url).endswith("/signoff_prefect/logo.png")
        image = Image.open(LOGO_FILE)
        assert image.width == image.height
        assert 1000 > image.width > 45


def test_credentials_round_trip_through_the_server_and_hide_the_key() -> None:
    SignoffCredentials(base_url="http://127.0.0.1:1", api_key="k-secret").save(
        "test-creds", overwrite=True
    )
    loaded = SignoffCredentials.load("test-creds")
    assert loaded.api_key.get_secret_value() == "k-secret"
    assert "k-secret" not in repr(loaded)
