"""Measure outbox delivery: messages per second, and two workers at once without loss.

Run ``python bench/mail_throughput.py`` (needs PostgreSQL and aiosmtpd; see
bench/README.md).  In a fresh ``bench_*`` PostgreSQL database it launches round 1
of a study of 2,000 panellists (2,000 invitations in the outbox) and delivers them
with ``delphi.mail.deliver_batch`` in a loop, as ``delphi send-mail`` does, to a
local SMTP server (aiosmtpd in a separate process that only counts recipients).
It prints messages/second (target >= 300) and where the time per message goes.

Then it launches another study of 2,000, starts two ``delphi send-mail`` processes
at once on the same database and counts what the SMTP server received per
recipient: every invitation exactly once (no duplicate, no loss).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed  # noqa: E402

MAIL_FROM = "Bench study <bench@example.org>"


# --- the SMTP server: a separate process that accepts quickly and counts ----------------------

class CountingHandler:
    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        for recipient in envelope.rcpt_tos:
            self.received[recipient] += 1
        return "250 OK"


def _smtp_server(port: int, pipe: Any) -> None:
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    try:
        while True:
            command = pipe.recv()
            if command == "counts":
                # Read the counter on the server's own loop, between two messages.
                future = asyncio.run_coroutine_threadsafe(_copy(handler), controller.loop)
                pipe.send(future.result(timeout=30))
            elif command == "stop":
                break
    finally:
        controller.stop()


async def _copy(handler: CountingHandler) -> dict[str, int]:
    return dict(handler.received)


class SmtpSink:
    """Start the counting SMTP server in its own process; ask it what it received."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._process = ctx.Process(target=_smtp_server, args=(self.port, child), daemon=True)

    def __enter__(self) -> SmtpSink:
        self._process.start()
        if not self._pipe.poll(30) or self._pipe.recv() != "ready":
            raise SystemExit("the SMTP server did not start")
        return self

    def counts(self) -> dict[str, int]:
        self._pipe.send("counts")
        return self._pipe.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self._pipe.send("stop")
        except OSError:
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


# --- timing the parts of a delivery -----------------------------------------------------------

class Parts:
    """Wall time spent in the parts of ``deliver_batch``, by wrapping them for one run."""

    NAMES = ("claim (query + commit)", "render (with its gets)", "mint link",
             "build MIME message", "SMTP send (flatten + dialogue)", "commits")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self.commits = 0

    @contextmanager
    def wrapped(self) -> Any:
        from sqlalchemy.orm import Session

        from delphi import mail

        originals = {
            (mail, "claim_due"): self.NAMES[0], (mail, "render"): self.NAMES[1],
            (mail, "link_for_message"): self.NAMES[2], (mail, "build_email"): self.NAMES[3],
            (mail.Sender, "send"): self.NAMES[4],
        }
        saved = {key: getattr(*key) for key in originals}
        commit = Session.commit
        inside = {"claim": False}

        def timing(fn: Any, name: str) -> Any:
            def run(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                if name == self.NAMES[0]:
                    inside["claim"] = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    inside["claim"] = False
                    self.seconds[name] += time.perf_counter() - start
            return run

        def timed_commit(session: Any) -> None:
            start = time.perf_counter()
            try:
                commit(session)
            finally:
                if not inside["claim"]:
                    self.commits += 1
                    self.seconds[self.NAMES[5]] += time.perf_counter() - start

        for (owner, attr), name in originals.items():
            setattr(owner, attr, timing(saved[(owner, attr)], name))
        Session.commit = timed_commit  # type: ignore[method-assign]
        try:
            yield self
        finally:
            for (owner, attr), fn in saved.items():
                setattr(owner, attr, fn)
            Session.commit = commit  # type: ignore[method-assign]


# --- the phases -------------------------------------------------------------------------------

def pending_invitations(slug: str, panellists: int, domain: str) -> list[str]:
    """A study whose round 1 is launched: one invitation per panellist in the outbox."""
    study = seed.seed_study(slug, 5, panellists, domain)
    seed.launch(study)
    return [p.email for p in study.panellists]


def deliver_all() -> int:
    """Deliver everything due, as ``delphi send-mail`` does (``run_worker(once=True)``)."""
    from delphi import mail

    sent = 0
    while True:
        result = mail.deliver_batch()
        sent += result.sent
        if not result.sent:
            return sent


def send_mail_command() -> list[str]:
    script = Path(sys.executable).with_name("delphi")
    if script.exists():
        return [str(script), "send-mail"]
    found = shutil.which("delphi")
    if found:
        return [found, "send-mail"]
    return [sys.executable, "-c", "from delphi.cli import main; main()", "send-mail"]


def check(emails: list[str], counts: dict[str, int]) -> tuple[int, int]:
    """(duplicates, lost) among ``emails`` in what the SMTP server received."""
    duplicates = sum(counts.get(e, 0) - 1 for e in emails if counts.get(e, 0) > 1)
    lost = sum(1 for e in emails if counts.get(e, 0) == 0)
    return duplicates, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=f"bench_mail_{os.getpid()}")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    failed = False
    with seed.bench_database(args.database, keep=args.keep_database) as url, SmtpSink() as sink:
        app = seed.make_app(url, SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, MAIL_FROM=MAIL_FROM)
        with app.app_context():
            from delphi.extensions import db

            seed.upgrade_schema()
            single = pending_invitations("bench-mail-one", args.messages, "one.example.org")
            seed.analyze_tables()
            parts = Parts()
            with parts.wrapped():
                start = time.perf_counter()
                sent = deliver_all()
                elapsed = time.perf_counter() - start
            duplicates, lost = check(single, sink.counts())
            rate = sent / elapsed
            print(f"mail throughput: {sent} invitations delivered by deliver_batch loops "
                  f"(batch {app.config['MAIL_BATCH_SIZE']}) to a local aiosmtpd in "
                  f"{elapsed:.2f} s")
            print(f"  {rate:.0f} messages/s (target >= 300: {'met' if rate >= 300 else 'NOT met'})"
                  f"; received: {len(single) - lost} recipients, {duplicates} duplicates, "
                  f"{lost} lost")
            print("  per message, where the time goes:")
            accounted = 0.0
            for name, seconds in parts.seconds.items():
                accounted += seconds
                print(f"    {name:<30} {seconds / max(sent, 1) * 1000:6.3f} ms")
            print(f"    {'other (ORM gets, loop)':<30} "
                  f"{(elapsed - accounted) / max(sent, 1) * 1000:6.3f} ms")
            print(f"    commits outside claims: {parts.commits / max(sent, 1):.1f} per message "
                  "(some without a write)")
            failed |= bool(duplicates or lost or sent != args.messages)

            double = pending_invitations("bench-mail-two", args.messages, "two.example.org")
            seed.analyze_tables()
            db.session.remove()
            db.engine.dispose()

        env = dict(os.environ)
        env.update(seed.app_settings(url))
        env.update({"DELPHI_SMTP_HOST": "127.0.0.1", "DELPHI_SMTP_PORT": str(sink.port),
                    "DELPHI_MAIL_FROM": MAIL_FROM})
        command = send_mail_command()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        workers = [subprocess.Popen(command, env=env, cwd=seed.ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(args.workers)]
        outputs = [w.communicate(timeout=600) for w in workers]
        elapsed = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime
               + cpu_after.ru_stime - cpu_before.ru_stime)
        codes = [w.returncode for w in workers]
        counts = sink.counts()
        duplicates, lost = check(double, counts)
        received = sum(counts.get(e, 0) for e in double)
        with app.app_context():
            import sqlalchemy as sa

            from delphi.models import MailStatus, OutboxMessage, Study

            statuses = dict(db.session.execute(
                sa.select(OutboxMessage.status, sa.func.count())
                .join(Study, OutboxMessage.study_id == Study.id)
                .where(Study.slug == "bench-mail-two").group_by(OutboxMessage.status)
            ).all())
            db.session.remove()
            db.engine.dispose()
        print(f"{args.workers} workers: `{' '.join(Path(c).name for c in command[:2])}` "
              f"processes at once over {len(double)} invitations: {elapsed:.2f} s, "
              f"{received / elapsed:.0f} messages/s together (process start-up included); "
              f"worker CPU {cpu:.1f} s ({cpu / max(received, 1) * 1000:.2f} ms per message)")
        outbox = ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        print(f"  received {received} messages for {len(double) - lost} of {len(double)} "
              f"recipients: {duplicates} duplicates, {lost} lost; outbox: {outbox}; "
              f"exit codes {codes}")
        ok = not duplicates and not lost and codes == [0] * args.workers \
            and statuses.get(MailStatus.SENT, 0) == len(double)
        print(f"  {'OK: every invitation exactly once' if ok else 'FAILED'}")
        if not ok:
            for out, err in outputs:
                print(out[-2000:], err[-2000:], sep="\n")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
