"""Every setting is documented."""

from pathlib import Path

from delphi.config import DEFAULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_in_the_settings_reference():
    text = (DOCS / "settings.md").read_text()
    missing = [name for name in DEFAULTS if f"`DELPHI_{name}`" not in text]
    assert not missing, f"undocumented settings: {missing}"
