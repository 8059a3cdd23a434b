"""The `delphi` command itself: help without settings, and the demo that later commands find."""
# These tests run `delphi` itself and fetch pages from the local server it starts:
# ruff: noqa: S310, S603

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from delphi.cli import main

EVERY_COMMAND = [
    "add-facilitator", "analyze", "archive-study", "close-due-rounds", "close-round",
    "create-facilitator", "db", "demo", "erase-panellist", "export", "export-panellist",
    "export-survey", "import-panel", "import-survey", "launch-round", "purge-expired",
    "remind", "routes", "run", "send-mail", "shell",
]
SLUG = "impact-paediatric-car-t"


def _no_settings(monkeypatch: pytest.MonkeyPatch, instance: Path) -> None:
    """No DELPHI_* variable, and an empty instance folder of the test's own."""
    for name in list(os.environ):
        if name.startswith("DELPHI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DELPHI_INSTANCE_PATH", str(instance))


def test_help_works_without_any_setting_and_lists_every_command(monkeypatch, tmp_path):
    _no_settings(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")
    listed = re.findall(r"^  ([a-z-]+)  ", result.stdout, re.MULTILINE)
    assert [c for c in EVERY_COMMAND if c not in listed] == []
    # a command's own help needs no settings either
    result = CliRunner().invoke(main, ["launch-round", "--help"])
    assert result.exit_code == 0 and "--closes-at" in result.output


def test_a_command_without_settings_says_what_is_missing_in_one_line(monkeypatch, tmp_path):
    _no_settings(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["launch-round", SLUG])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "DELPHI_SECRET_KEY" in result.output and "delphi demo" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _delphi(*args: str) -> list[str]:
    return [sys.executable, "-c", "from delphi.cli import main; main()", *args]


class Demo:
    """`delphi demo` in a subprocess, as a person starts it in a terminal."""

    def __init__(self, instance: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = instance.parent / f"demo-{self.port}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Demo:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(_delphi("demo", "--port", str(self.port)),
                                         stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                urllib.request.urlopen(self.base + "/login", timeout=5).read()
                return self
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the demo did not answer in time:\n" + self.log.read_text())

    @property
    def password(self) -> str:
        return re.search(r"with the password (\S+)", self.log.read_text()).group(1)

    def __exit__(self, *_exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(15)


def _opener(jar: http.cookiejar.CookieJar) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def _log_in(demo: Demo, jar: http.cookiejar.CookieJar) -> str:
    opener = _opener(jar)
    page = opener.open(demo.base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": "demo@example.org",
                                   "password": demo.password}).encode()
    request = urllib.request.Request(demo.base + "/login", data=data,
                                     headers={"Origin": demo.base})
    return opener.open(request, timeout=10).read().decode()


def test_the_demo_keeps_its_logins_and_the_readme_commands_find_its_database(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELPHI_")}
    env["DELPHI_INSTANCE_PATH"] = str(instance)
    jar = http.cookiejar.CookieJar()
    with Demo(instance, env) as first:
        assert "IMPACT" in _log_in(first, jar)
        password = first.password
    assert oct((instance / "demo.cfg").stat().st_mode & 0o777) == "0o600"
    with Demo(instance, env) as second:
        assert second.password == password  # printed again, unchanged
        # the session cookie of the first run still logs in: same secret key, same account
        page = _opener(jar).open(second.base + "/", timeout=10)
        assert page.url == second.base + "/" and "IMPACT" in page.read().decode()
    # the README's commands, with no DELPHI_* variable, work on the demo database
    export = subprocess.run(_delphi("export", SLUG, "--what", "statements", "--format", "csv"),
                            env=env, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    assert export.stdout.startswith("item,key,version")
    launched = subprocess.run(_delphi("launch-round", SLUG), env=env, capture_output=True,
                              text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr
    assert "Round 1 of impact-paediatric-car-t is open" in launched.stdout


def test_a_leftover_demo_file_never_relaxes_a_deployment(monkeypatch, tmp_path):
    from delphi import create_app
    from delphi.config import ConfigError

    _no_settings(monkeypatch, tmp_path)
    (tmp_path / "demo.cfg").write_text(
        "DEMO = True\nSECRET_KEY = 'demo-key-0123456789abcdef0123456789abcdef'\n"
        "BASE_URL = 'http://127.0.0.1:5000'\nDEMO_PASSWORD = 'not-a-setting'\n")
    app = create_app()  # no database named: the demo's settings and database
    assert app.config["DEMO"] is True
    assert app.config["SECRET_KEY"] == "demo-key-0123456789abcdef0123456789abcdef"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///delphi.sqlite"
    assert "DEMO_PASSWORD" not in app.config
    monkeypatch.setenv("DELPHI_DATABASE_URL", f"sqlite:///{tmp_path}/production.sqlite")
    with pytest.raises(ConfigError, match="DELPHI_SECRET_KEY, DELPHI_BASE_URL"):
        create_app()  # a deployment still needs its own key and address


def test_the_command_line_loads_no_scipy_until_a_command_computes():
    """`delphi --help` must answer quickly: scipy alone takes about half a second to load,
    so nothing on the way to the command list may import it (measured in
    bench/README.md, not timed here)."""
    import subprocess
    import sys

    probe = "import sys, delphi.cli; print('scipy' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,  # noqa: S603
                         check=True).stdout.strip()
    assert out == "False False"  # pydantic loads when a survey file is read
