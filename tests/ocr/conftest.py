from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def kb_service(tmp_path: Path):  # type: ignore[no-untyped-def]
    from hanlin.config import Settings
    from hanlin.knowledge.service import local_service

    return local_service(Settings(home=tmp_path, auth="off"))
