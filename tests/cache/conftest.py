"""Fixtures of the token cache's tests: a private home standing in for the user's."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private stand-in for the user's config dir, and no cache settings from outside."""

    def user_config_path(appname: str, appauthor: object = None) -> Path:
        return tmp_path / "config" / appname

    monkeypatch.setattr(platformdirs, "user_config_path", user_config_path)
    monkeypatch.delenv("ZAPIER_NB_TOKEN_CACHE", raising=False)
    monkeypatch.delenv("ZAPIER_NB_CACHE_DIR", raising=False)
    return tmp_path


@pytest.fixture
def cache_dir(home: Path) -> Path:
    return home / "cache" / "tokens"


@pytest.fixture
def audit_roots(home: Path) -> list[Path]:
    return [home]
