"""The widgets' JavaScript and CSS: files of the package, valid, and in step with the page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from zapier_nb import _callback_page
from zapier_nb._login_button import LoginButton
from zapier_nb._secret_field import SecretField

STATIC = Path(_callback_page.__file__).with_name("_static")
SCRIPTS = sorted(STATIC.glob("*.js"))


def test_the_widgets_load_their_code_from_the_package_files() -> None:
    assert [path.name for path in SCRIPTS] == ["login_button.js", "secret_field.js"]
    assert LoginButton._esm == (STATIC / "login_button.js").read_text()
    assert SecretField._css == (STATIC / "secret_field.css").read_text()


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node.js to parse the modules with")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_script_is_a_valid_module(script: Path) -> None:
    checked = subprocess.run(
        ["node", "--input-type=module", "--check"],
        input=script.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode()


def test_the_button_and_the_callback_page_speak_the_same_messages() -> None:
    button = (STATIC / "login_button.js").read_text()
    for name, value in (
        ("CALLBACK", _callback_page.CALLBACK_TYPE),
        ("ACK", _callback_page.ACK_TYPE),
        ("CHANNEL", _callback_page.CHANNEL),
    ):
        assert f'const {name} = "{value}";' in button
