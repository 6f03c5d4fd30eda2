import asyncio
import pytest
from tests.test_tui_typed_burst import _mock_burst

@pytest.mark.parametrize("i", range(40))
def test_rep(i, tmp_path):
    asyncio.run(_mock_burst(tmp_path))
