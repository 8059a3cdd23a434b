"""Log lines arrive: the delphi loggers have a handler of their own, text or JSON, and
the personal-link secret is redacted on it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from delphi.config import ConfigError
from delphi.logs import HANDLER_NAME, install_log_handler

ROOT = Path(__file__).resolve().parent.parent

# A process set up as under gunicorn: nothing configures Python logging (the root
# logger has no handler), the settings come from the environment.
SCRIPT = textwrap.dedent("""
    import logging
    from delphi import create_app, mail
    from delphi.audit import record
    from delphi.extensions import db

    app = create_app()
    with app.app_context():
        db.create_all()
        record("cli", "study.test_event", note="opened /p/SECRET-token_123 once")
        db.session.commit()
        mail.run_worker(once=True, interval=0)
        try:
            raise ValueError("while opening /p/OTHER-secret")
        except ValueError:
            logging.getLogger("delphi.mail").exception("it failed")
""")


def _run(tmp_path: Path, log_format: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELPHI_")}
    env.update(DELPHI_SECRET_KEY="s3cret-for-this-test-" + "x" * 32, DELPHI_BASE_URL="https://d.example",
               DELPHI_DATABASE_URL=f"sqlite:///{tmp_path}/logs.sqlite",
               PYTHONPATH=str(ROOT))
    if log_format:
        env["DELPHI_LOG_FORMAT"] = log_format
    return subprocess.run(  # noqa: S603 - this interpreter on a fixed script, no user input
        [sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False)


def test_audit_and_mail_info_lines_arrive_without_any_logging_setup(tmp_path):
    done = _run(tmp_path, None)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(" INFO delphi.audit: cli study.test_event" in line for line in lines), lines
    assert any(" INFO delphi.mail: mail worker " in line and "alive" in line for line in lines)
    assert "SECRET-token_123" not in done.stderr and "/p/[redacted]" in done.stderr
    assert "OTHER-secret" not in done.stderr  # the traceback too
    assert sum("study.test_event" in line for line in lines) == 1  # once, not twice


def test_json_logs_are_one_object_a_line(tmp_path):
    done = _run(tmp_path, "json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(records) >= 3
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    audit = next(r for r in records if r["logger"] == "delphi.audit")
    assert audit["level"] == "INFO" and "study.test_event" in audit["message"]
    assert audit["time"].endswith("+00:00")
    failed = next(r for r in records if r["message"] == "it failed")
    assert "ValueError" in failed["exception"] and "OTHER-secret" not in failed["exception"]
    assert "SECRET-token_123" not in done.stderr
    # every line of the output is one JSON object: tracebacks do not break lines
    assert all(line.startswith("{") for line in done.stderr.splitlines() if line.strip())


def test_an_unknown_log_format_is_refused_with_the_setting_named():
    with pytest.raises(ConfigError, match="DELPHI_LOG_FORMAT must be one of text, json"):
        install_log_handler("xml")


def test_the_handler_is_attached_once_and_redacts(capsys):
    install_log_handler("text")
    install_log_handler("text")
    logger = logging.getLogger("delphi")
    assert [h.get_name() for h in logger.handlers].count(HANDLER_NAME) == 1
    logging.getLogger("delphi.mail").warning("GET /p/abc123-XYZ_9 302")
    err = capsys.readouterr().err
    assert "/p/[redacted] 302" in err and "abc123" not in err
