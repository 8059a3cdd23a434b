"""Load-test the voting page under gunicorn with wrk, next to a one-query endpoint,
for two versions of the code side by side, on SQLite and on PostgreSQL.

Run ``python bench/load_voting.py [--before DIR] [--after DIR]`` (needs gunicorn, wrk
and, for PostgreSQL, a server; see bench/README.md). ``--before`` names a copy of
another commit of the platform (``git archive <commit> | tar -x -C DIR``): it is
measured in the same run as this checkout (or ``--after``'s copy), each on its own
database, each served by its own gunicorn (2 sync workers on 127.0.0.1 with the
bench-only endpoint).

Each database holds a study of 2,000 panellists and 30 statements whose round 1 is
closed (results stored, comments) and round 2 open with its feedback; half of the
panellists whose links are used have a saved round-2 sheet (ratings, a few comments
and reasons). wrk drives, interleaved, at 1 and at 8 concurrent connections:

- ``one-query``: ``/_bench/one-query``, one indexed ``SELECT`` (the floor),
- ``vote GET``: the round-2 voting page, each request a different panellist's session
  (1,000 by default, rotating), so no panellist is seen twice in a row,
- ``vote POST``: an autosave of three ratings (200 JSON), at 8 connections.

It prints requests/s, p50 and p99 per target, the ratio voting page / one-query of each
version and concurrency (target >= 0.20), and, measured in a fresh process per version,
the CPU time of a first view: a panellist's round-2 page with nothing cached (the
templates compiled, every cache of the platform emptied before each view; median over
distinct panellists; on PostgreSQL the server's own CPU is not counted).
It stops the servers and drops or deletes the databases itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
TARGETS = ("one-query", "vote GET", "vote POST")


@dataclass
class Session:
    cookie: str  # "name=value"
    csrf: str
    round_id: str


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad_status: int
    socket_errors: int


@dataclass
class Target:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def rate(self) -> float:
        seconds = sum(r.seconds for r in self.runs)
        return sum(r.requests for r in self.runs) / seconds if seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.mean(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return max(r.p99_ms for r in self.runs)

    @property
    def bad(self) -> int:
        return sum(r.bad_status + r.socket_errors for r in self.runs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- in a child process, on one version of the code (BENCH_CODE) ------------------------------

def child_seed(url: str, panellists: int, items: int, sessions: int, comment_rate: float,
               saved_share: float) -> dict:
    """Seed the study; return the links' tokens, the ids, and what was seeded."""
    import seed
    import sqlalchemy as sa

    from delphi.extensions import db
    from delphi.models import Invitation, Rating, Response, ResponseState, utcnow

    app = seed.make_app(url)
    with app.app_context():
        seed.upgrade_schema()
        started = time.perf_counter()
        study = seed.seed_study("bench-voting", items, panellists)
        first = seed.launch(study)
        counts = seed.bulk_answers(first, comment_rate=comment_rate)
        seed.close(study)
        second = seed.launch(study)
        tokens = seed.personal_links(second, sessions)
        item_ids = [ri.item_id for ri in second.round_items]
        # Half of the panellists whose links are used come back to a saved sheet.
        rng = random.Random(2)
        invited = db.session.scalars(
            sa.select(Invitation.panellist_id).where(Invitation.round_id == second.id)
            .order_by(Invitation.id).limit(sessions)).all()
        saved = [p for n, p in enumerate(invited) if n % 2 == 0 and rng.random() < saved_share * 2]
        now = utcnow()
        db.session.execute(sa.insert(Response), [
            {"round_id": second.id, "panellist_id": p, "state": ResponseState.DRAFT,
             "created_at": now, "updated_at": now, "version": 1} for p in saved])
        response_of = dict(db.session.execute(
            sa.select(Response.panellist_id, Response.id).where(Response.round_id == second.id)
        ).all())
        rows = []
        for p in saved:
            for item in item_ids[:rng.randint(5, len(item_ids))]:
                is_uts = rng.random() < 0.04
                rows.append({"response_id": response_of[p], "round_id": second.id,
                             "panellist_id": p, "item_id": item,
                             "value": None if is_uts else rng.randint(1, 9), "is_uts": is_uts,
                             "comment": f"Draft comment of {p} on {item}."
                             if rng.random() < 0.05 else "",
                             "change_reason": "Read the panel's comments."
                             if rng.random() < 0.05 else "", "updated_at": now})
        db.session.execute(Rating.__table__.insert(), rows)
        db.session.commit()
        seed.analyze_tables()
        max_id = max(p.id for p in study.panellists)
        summary = (f"round 1: {counts.responses} submitted, {counts.ratings} ratings, "
                   f"{counts.comments} comments; round 2: {len(saved)} of {sessions} "
                   f"panellists with a saved sheet ({len(rows)} answers); seeded in "
                   f"{time.perf_counter() - started:.1f} s")
        db.session.remove()
        db.engine.dispose()
    return {"tokens": tokens, "max_id": max_id, "item_ids": item_ids, "summary": summary}


def _empty_caches() -> int:
    """Empty every in-process cache of the platform's panel code (before a first view)."""
    import importlib

    emptied = 0
    for name in ("delphi.results.blocks", "delphi.results.feedback", "delphi.panel.views"):
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) or type(value).__name__ == "LocalProxy":
                continue
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
                emptied += 1
            elif isinstance(value, dict) and value:
                if all(isinstance(k, tuple) for k in value):  # a hand-keyed render cache
                    value.clear()
                    emptied += 1
    return emptied


def child_first_view(url: str, tokens: list[str], views: int) -> dict:
    """CPU time of first views: distinct panellists, every cache emptied before each."""
    import seed

    from delphi.extensions import db

    app = seed.make_app(url)
    samples = []
    with app.app_context():
        client = app.test_client()
        # Compile the templates (a process does this once, not per view).
        client.get(f"/p/{tokens[-1]}")
        client.get("/vote")
        db.session.remove()
        caches = 0
        for token in tokens[:views]:
            client = app.test_client()
            assert client.get(f"/p/{token}").status_code == 302
            caches = _empty_caches()
            db.session.remove()
            start = time.process_time()
            response = client.get("/vote")
            samples.append((time.process_time() - start) * 1000)
            assert response.status_code == 200, response.status_code
            size = len(response.get_data())
        db.session.remove()
        db.engine.dispose()
    return {"median_ms": statistics.median(samples), "min_ms": min(samples),
            "max_ms": max(samples), "views": len(samples), "caches": caches, "bytes": size}


def run_child(code: Path, command: str, payload: dict) -> dict:
    """Run this script's ``command`` in a fresh process on the code at ``code``."""
    env = dict(os.environ, BENCH_CODE=str(code), PYTHONPATH=str(code))
    done = subprocess.run([sys.executable, __file__, "--child", command],
                          input=json.dumps(payload), capture_output=True, text=True, env=env,
                          cwd=code)
    if done.returncode != 0:
        raise SystemExit(f"{command} on {code} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the servers ------------------------------------------------------------------------------

def start_gunicorn(code: Path, url: str, port: int, workers: int, log: Path
                   ) -> subprocess.Popen[bytes]:
    sys.path.insert(0, str(HERE))
    import seed

    env = dict(os.environ, BENCH_CODE=str(code), PYTHONPATH=str(code))
    env.update(seed.app_settings(url))
    env["DELPHI_BENCH_ENDPOINTS"] = "1"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
               "--worker-class", "sync", "--bind", f"{HOST}:{port}", "--chdir", str(code),
               "--error-logfile", str(log), "--log-level", "warning", "wsgi:app"]
    proc = subprocess.Popen(command, env=env, cwd=code)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}; see {log}:\n"
                             + log.read_text(errors="replace")[-2000:])
        try:
            status, _, _ = http_get(port, "/_bench/one-query?max=1")
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise SystemExit("gunicorn did not answer within 90 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drain(port: int) -> None:
    """Wait until the workers have answered what wrk left queued, so runs do not overlap."""
    for _ in range(4):
        http_get(port, "/_bench/one-query?max=1")


def http_get(port: int, path: str, cookie: str | None = None, method: str = "GET",
             body: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


def _cookie(headers: dict[str, str], fallback: str | None = None) -> str:
    value = headers.get("set-cookie")
    if not value:
        if fallback is None:
            raise SystemExit("the server set no session cookie")
        return fallback
    return value.split(";", 1)[0]


def open_sessions(port: int, tokens: list[str], item_ids: list[int], with_form: int
                  ) -> tuple[list[str], list[Session]]:
    """Open each personal link as a browser would (the session cookie); for the first
    ``with_form`` read the voting form too (its CSRF token) and check one autosave."""
    cookies, forms = [], []
    for n, token in enumerate(tokens):
        status, headers, _ = http_get(port, f"/p/{token}")
        if status != 302:
            raise SystemExit(f"opening a personal link answered {status}")
        cookie = _cookie(headers)
        cookies.append(cookie)
        if n >= with_form:
            continue
        status, headers, html = http_get(port, "/vote", cookie)
        if status != 200:
            raise SystemExit(f"the voting page answered {status}")
        cookie = _cookie(headers, cookie)  # now holds the CSRF secret
        session = Session(cookie, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                          re.search(r'name="round" value="(\d+)"', html).group(1))
        body = urlencode({"csrf_token": session.csrf, "round": session.round_id,
                          "intent": "autosave", **{f"rating-{i}": "7" for i in item_ids[:3]}})
        status, _, text = http_get(port, "/vote", cookie, "POST", body)
        if status != 200:
            raise SystemExit(f"an autosave answered {status}: {text[:300]}")
        forms.append(session)
    return cookies, forms


# --- wrk --------------------------------------------------------------------------------------

LUA = r"""
-- written by bench/load_voting.py
local mode = %(mode)s
local path = %(path)s
local sessions = %(sessions)s
local items = %(items)s
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  math.randomseed(1000 + (tid or 0))
end

function request()
  counter = counter + 1
  if mode == "one-query" then
    return wrk.format("GET", path)
  end
  local s = sessions[((tid or 0) * %(per_thread)d + counter %% %(per_thread)d) %% #sessions + 1]
  local headers = {["Cookie"] = s[1]}
  if mode == "vote GET" then
    return wrk.format("GET", "/vote", headers)
  end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  local body = "csrf_token=" .. s[2] .. "&round=" .. s[3] .. "&intent=autosave"
  for _, item in ipairs(items) do
    body = body .. "&rating-" .. item .. "=" .. math.random(1, 9)
  end
  return wrk.format("POST", "/vote", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, "
    .. "\"status\": %%d, \"socket\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def write_script(directory: Path, name: str, mode: str, path: str,
                 sessions: list[tuple[str, str, str]], items: list[int], threads: int) -> Path:
    rows = ", ".join("{" + ", ".join(lua_string(v) for v in s) + "}" for s in sessions)
    script = directory / f"{name}.lua"
    script.write_text(LUA % {
        "mode": lua_string(mode), "path": lua_string(path), "sessions": "{" + rows + "}",
        "items": "{" + ", ".join(str(i) for i in items) + "}",
        "per_thread": max(1, len(sessions) // threads),
    })
    return script


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> Run:
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(script), f"http://{HOST}:{port}/"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit("wrk printed no result:\n" + done.stdout + done.stderr)
    data = json.loads(line[len("WRK-RESULT "):])
    drain(port)
    return Run(requests=data["requests"], seconds=data["duration_us"] / 1e6,
               p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
               bad_status=data["status"], socket_errors=data["socket"])


# --- one backend, every version ---------------------------------------------------------------

@dataclass
class Version:
    label: str
    code: Path
    url: str = ""
    seeded: dict = field(default_factory=dict)
    first_view: dict = field(default_factory=dict)
    port: int = 0
    scripts: dict[str, Path] = field(default_factory=dict)
    # (target, connections) -> measurements
    targets: dict[tuple[str, int], Target] = field(default_factory=dict)


def bench_backend(backend: str, versions: list[Version], args: argparse.Namespace,
                  tmp: Path) -> None:
    sys.path.insert(0, str(HERE))
    import seed

    with ExitStack() as stack:
        for v in versions:
            if backend == "sqlite":
                v.url = f"sqlite:///{tmp}/{backend}-{v.label}.sqlite"
            else:
                v.url = stack.enter_context(seed.bench_database(
                    f"bench_voting_{v.label}_{os.getpid()}", keep=args.keep_database))
            v.seeded = run_child(v.code, "seed", {
                "url": v.url, "panellists": args.panellists, "items": args.items,
                "sessions": args.sessions, "comment_rate": args.comment_rate,
                "saved_share": 0.5})
            v.first_view = run_child(v.code, "first-view", {
                "url": v.url, "tokens": v.seeded["tokens"], "views": args.first_views})
            v.port = free_port()
            server = start_gunicorn(v.code, v.url, v.port, args.workers,
                                    tmp / f"gunicorn-{backend}-{v.label}.log")
            stack.callback(stop, server)
            cookies, forms = open_sessions(v.port, v.seeded["tokens"], v.seeded["item_ids"],
                                           args.post_sessions)
            name = f"{backend}-{v.label}"
            v.scripts = {
                "one-query": write_script(tmp, f"{name}-one", "one-query",
                                          f"/_bench/one-query?max={v.seeded['max_id']}", [],
                                          [], 2),
                "vote GET": write_script(tmp, f"{name}-get", "vote GET", "/vote",
                                         [(c, "", "") for c in cookies], [], 2),
                "vote POST": write_script(tmp, f"{name}-post", "vote POST", "/vote",
                                          [(s.cookie, s.csrf, s.round_id) for s in forms],
                                          v.seeded["item_ids"][:3], 2),
            }
        plan = [(target, c) for c in args.connections for target in TARGETS
                if target != "vote POST" or c > 1]
        for v in versions:  # compile templates, fill connection pools
            for target, c in plan:
                run_wrk(v.port, v.scripts[target], args.warmup, c)
        per_run = args.seconds / args.repeats
        for _ in range(args.repeats):
            for target, c in plan:
                for v in versions:
                    v.targets.setdefault((target, c), Target(target)).runs.append(
                        run_wrk(v.port, v.scripts[target], per_run, c))


def report(backend: str, versions: list[Version], args: argparse.Namespace) -> int:
    print(f"\n== {backend}: {args.panellists} panellists, {args.items} statements, round 2 open "
          "with round-1 feedback")
    for v in versions:
        print(f"   {v.label}: {v.seeded['summary']}")
    print(f"   gunicorn {args.workers} sync workers per version; {args.sessions} panellists' "
          f"sessions for vote GET (rotating), {args.post_sessions} for vote POST; "
          f"{args.repeats} x {args.seconds / args.repeats:g} s per target, interleaved "
          "across versions")
    print(f"{'version':<8} {'conns':>5} {'target':<10} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>7}")
    bad = 0
    for c in args.connections:
        for target in TARGETS:
            for v in versions:
                t = v.targets.get((target, c))
                if t is None:
                    continue
                bad += t.bad
                print(f"{v.label:<8} {c:>5} {target:<10} {t.rate:>8.1f} {t.p50:>8.2f} "
                      f"{t.p99:>8.2f} {t.bad:>7d}")
    for v in versions:
        for c in args.connections:
            ratio = v.targets[("vote GET", c)].rate / v.targets[("one-query", c)].rate
            print(f"{v.label}: voting page / one-query at {c} connection(s): {ratio:.3f} "
                  f"(target >= 0.20: {'met' if ratio >= 0.20 else 'NOT met'})")
        if 8 in args.connections:
            p99 = v.targets[("vote GET", 8)].p99
            print(f"{v.label}: voting page p99 at 8 connections: {p99:.1f} ms (target < 150: "
                  f"{'met' if p99 < 150 else 'NOT met'})")
        fv = v.first_view
        print(f"{v.label}: first view, in-process CPU: median {fv['median_ms']:.1f} ms "
              f"(min {fv['min_ms']:.1f}, max {fv['max_ms']:.1f}; {fv['views']} panellists, "
              f"{fv['caches']} caches emptied before each; page {fv['bytes'] / 1024:.0f} KB) "
              f"(target < 10: {'met' if fv['median_ms'] < 10 else 'NOT met'})")
    if len(versions) == 2:
        a, b = versions
        for c in args.connections:
            ra = a.targets[("vote GET", c)].rate / a.targets[("one-query", c)].rate
            rb = b.targets[("vote GET", c)].rate / b.targets[("one-query", c)].rate
            print(f"{b.label} / {a.label}, voting page share of one-query at {c}: "
                  f"{rb / ra:.2f}x")
        print(f"{b.label} / {a.label}, first-view CPU: "
              f"{b.first_view['median_ms'] / a.first_view['median_ms']:.2f}x")
    if bad:
        print(f"FAILED: {bad} responses were not 2xx/3xx or failed on the socket")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--before", type=Path,
                        help="a copy of another commit to measure beside this checkout")
    parser.add_argument("--after", type=Path, default=ROOT,
                        help="the code measured as 'after' (default: this checkout)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--panellists", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=1000,
                        help="distinct panellists' sessions the voting page rotates through")
    parser.add_argument("--post-sessions", type=int, default=32)
    parser.add_argument("--comment-rate", type=float, default=0.02,
                        help="share of round-1 ratings with a comment")
    parser.add_argument("--seconds", type=float, default=8,
                        help="seconds per target, split over --repeats interleaved runs")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first-views", type=int, default=20)
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        payload = json.loads(sys.stdin.read())
        if args.child == "seed":
            print(json.dumps(child_seed(**payload)))
        else:
            print(json.dumps(child_first_view(**payload)))
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    args.connections = [int(c) for c in args.connections.split(",")]
    failures = 0
    for backend in args.backends.split(","):
        versions = ([Version("before", args.before.resolve())] if args.before else []) \
            + [Version("after" if args.before else "this", args.after.resolve())]
        with tempfile.TemporaryDirectory(prefix="delphi-bench-") as tmp:
            bench_backend(backend, versions, args, Path(tmp))
        failures += report(backend, versions, args)
        sys.stdout.flush()
    print("\nThe machine is shared: absolute figures move with its load; the ratios, "
          "measured side by side in the same run, are what to compare.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
