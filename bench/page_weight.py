"""The weight of the round-2 voting page, and how soon a phone on a weak signal shows it.

    python bench/page_weight.py [--panellists 60 --runs 3]

Seeds the IMPACT study (56 statements) in a throwaway SQLite file, has a full panel
answer round 1 (with comments), closes it and opens round 2, so every statement shows
the panel's feedback: the histogram, the numbers, the groups and the comments. Then,
against the app served on 127.0.0.1:

- the page's bytes on the wire as sent uncompressed, with gzip and with brotli
  (and the style sheets and script a first visit also loads);
- in Debian's chromium at 390 px through Chromium's network emulation (CDP
  ``Network.emulateNetworkConditions``: 1.6 Mbit/s down, 750 kbit/s up, 150 ms
  round trip, the cache off), the time from the start of the navigation until the
  first statement is on screen and readable (laid out with every style sheet
  applied), with compression and, for comparison, without.

Goals: the page at most 100 KB on the wire; the first statement readable within 2 s.
No PostgreSQL is needed: what is measured does not depend on the database.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import logging
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from bench.seed import bulk_answers, close, launch  # noqa: E402
from delphi import create_app  # noqa: E402
from delphi.extensions import db  # noqa: E402
from delphi.models import Invitation  # noqa: E402
from delphi.studies import operations as study_ops  # noqa: E402
from delphi.surveys import load_survey_file  # noqa: E402
from delphi.tokens import mint_token  # noqa: E402

IMPACT = ROOT / "delphi" / "surveys" / "impact-paediatric-car-t.yaml"
GOAL_BYTES = 100 * 1024
GOAL_SECONDS = 2.0
# A weak hospital 3G/4G signal.
NETWORK = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8,
           "uploadThroughput": 750e3 / 8}
PHONE = {"width": 390, "height": 844}

# Polls, inside the page, until the first statement is laid out with every style sheet
# loaded, two frames later (so painted); answers milliseconds since navigation start.
READABLE = """() => new Promise((resolve) => {
  function ready() {
    const legend = document.querySelector("fieldset.item legend");
    if (!legend || !legend.textContent.trim()) { return false; }
    const sheets = document.querySelectorAll('link[rel="stylesheet"]');
    if (![...sheets].every((l) => l.sheet)) { return false; }
    const r = legend.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }
  (function poll() {
    if (ready()) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
    } else { setTimeout(poll, 10); }
  })();
})"""


def seed(panellists: int) -> str:
    """The IMPACT study with round 1 answered by everyone and closed, round 2 open;
    answers a personal link of a panellist who rated round 1."""
    study = study_ops.import_survey(load_survey_file(IMPACT), "bench")
    lines = ["name,email,group"]
    groups = [g.key for g in study.groups]
    for n in range(1, panellists + 1):
        lines.append(f"Expert {n},expert{n}@bench.example.org,{groups[n % len(groups)]}")
    study_ops.import_panel(study, "\n".join(lines) + "\n", "bench")
    db.session.commit()
    rnd = launch(study)
    bulk_answers(rnd, submitted=1.0, blank=0.0, uts=0.04, comment_rate=0.15)
    close(study)
    rnd2 = launch(study)
    invitation = db.session.scalars(
        db.select(Invitation).where(Invitation.round_id == rnd2.id).order_by(Invitation.id)
    ).first()
    token = mint_token(invitation)
    db.session.commit()
    return f"/p/{token}"


def wire_sizes(base: str, link: str, keep: Path | None = None) -> dict[str, dict[str, int]]:
    """Bytes of the page and its assets as sent, per Accept-Encoding."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + link).read()
    sizes: dict[str, dict[str, int]] = {}
    for path in ("/vote", "/static/vendor/pico-2.1.1.min.css", "/static/delphi.css",
                 "/static/vote.js"):
        sizes[path] = {}
        for encoding in ("identity", "gzip", "br"):
            request = urllib.request.Request(base + path, headers={"Accept-Encoding": encoding})
            with opener.open(request) as response:
                body = response.read()
                got = response.headers.get("Content-Encoding") or "identity"
            if keep is not None and path == "/vote" and encoding == "identity":
                keep.write_bytes(body)
            sizes[path][encoding] = len(body) if got == encoding else -1
    return sizes


def time_to_first_statement(base: str, link: str, runs: int, compressed: bool) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("DELPHI_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"])
        try:
            for _ in range(runs):
                context = browser.new_context(viewport=PHONE)
                page = context.new_page()
                page.goto(base + link)  # the personal link: sets the session cookie
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                cdp.send("Network.emulateNetworkConditions", NETWORK)
                if not compressed:
                    cdp.send("Network.setExtraHTTPHeaders",
                             {"headers": {"Accept-Encoding": "identity"}})
                page.goto(base + "/vote", wait_until="commit")
                times.append(page.evaluate(READABLE) / 1000)
                context.close()
        finally:
            browser.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panellists", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-page", type=Path, help="write the uncompressed page here")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    folder = tempfile.mkdtemp(prefix="delphi-bench-")
    try:
        app = create_app({
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite",
            "BASE_URL": "http://127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "SECURE_COOKIES": False,  # plain http on the loopback interface
        })
        with app.app_context():
            db.create_all()
            link = seed(args.panellists)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            sizes = wire_sizes(base, link, args.keep_page)
            fast = time_to_first_statement(base, link, args.runs, compressed=True)
            slow = time_to_first_statement(base, link, args.runs, compressed=False)
        finally:
            server.shutdown()
            server.server_close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"IMPACT round 2, 56 statements with full feedback ({args.panellists} panellists)")
    print(f"{'bytes on the wire':34} {'uncompressed':>13} {'gzip':>9} {'brotli':>9}")
    for path, by in sizes.items():
        print(f"{path:34} {by['identity']:>13,} {by['gzip']:>9,} {by['br']:>9,}")
    page = sizes["/vote"]
    print(f"goal: the page at most {GOAL_BYTES // 1024} KB on the wire: "
          f"gzip {page['gzip'] / 1024:.1f} KB, brotli {page['br'] / 1024:.1f} KB: "
          f"{'met' if 0 < max(page['gzip'], page['br']) <= GOAL_BYTES else 'NOT met'}")
    print("first statement readable at 390 px, 1.6 Mbit/s down, 150 ms round trip "
          f"(median of {args.runs}):")
    print(f"  compressed:   {statistics.median(fast):.2f} s  "
          f"({', '.join(f'{t:.2f}' for t in fast)})")
    print(f"  uncompressed: {statistics.median(slow):.2f} s  "
          f"({', '.join(f'{t:.2f}' for t in slow)})")
    met = statistics.median(fast) <= GOAL_SECONDS
    print(f"goal: readable within {GOAL_SECONDS:.0f} s: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
