"""Load-test the voting page under gunicorn with wrk, next to a one-query endpoint.

Run ``python bench/load_voting.py`` (needs PostgreSQL, gunicorn and wrk; see
bench/README.md).  It seeds a fresh ``bench_*`` PostgreSQL database with a study of
2,000 panellists and 30 statements whose round 1 is closed (results stored) and
round 2 open with feedback, starts gunicorn on 127.0.0.1 with the bench-only
endpoint, and drives three targets with wrk, interleaved:

- ``one-query``: ``/_bench/one-query``, one indexed ``SELECT`` (the floor),
- ``vote GET``: the round-2 voting page of several panellists' sessions,
- ``vote POST``: an autosave of three ratings (``intent=autosave``, 200 JSON).

It prints requests/s, p50 and p99 latency and the count of non-2xx/3xx responses
for each, and the ratio voting-page req/s / one-query req/s (target >= 0.20).
It stops gunicorn and drops the database itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed  # noqa: E402

from delphi.extensions import db  # noqa: E402

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

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Target:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def rate(self) -> float:
        seconds = sum(r.seconds for r in self.runs)
        return sum(r.requests for r in self.runs) / seconds if seconds else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- seeding ----------------------------------------------------------------------------------

def seed_voting_study(url: str, panellists: int, items: int, sessions: int,
                      comment_rate: float) -> tuple[list[str], int, list[int], str]:
    """Round 1 closed with ratings, round 2 open; return links' tokens, max id, items, summary."""
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
        seed.analyze_tables()
        item_ids = [ri.item_id for ri in second.round_items]
        max_id = max(p.id for p in study.panellists)
        summary = (f"round 1: {counts.responses} submitted, {counts.ratings} ratings, "
                   f"{counts.comments} comments; seeded in {time.perf_counter() - started:.1f} s")
        db.session.remove()
        db.engine.dispose()
    return tokens, max_id, item_ids, summary


# --- the server -------------------------------------------------------------------------------

def start_gunicorn(url: str, port: int, workers: int, worker_class: str, log: Path
                   ) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(seed.app_settings(url))
    env["DELPHI_BENCH_ENDPOINTS"] = "1"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
               "--worker-class", worker_class, "--bind", f"{HOST}:{port}",
               "--chdir", str(seed.ROOT), "--error-logfile", str(log), "--log-level", "warning",
               "wsgi:app"]
    proc = subprocess.Popen(command, env=env, cwd=seed.ROOT)
    deadline = time.monotonic() + 60
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
    raise SystemExit("gunicorn did not answer within 60 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drain(port: int) -> None:
    """Wait until the workers have answered what wrk left queued, so runs do not overlap.

    A sync worker finishes the requests already accepted after wrk has hung up; one
    request per worker, answered in turn, shows the queue is empty.
    """
    for _ in range(4):
        http_get(port, "/_bench/one-query?max=1")


def http_get(port: int, path: str, cookie: str | None = None, method: str = "GET",
             body: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
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


def open_sessions(port: int, tokens: list[str], item_ids: list[int]) -> list[Session]:
    """Open each personal link as a browser would, read the form, and check one autosave."""
    sessions = []
    for token in tokens:
        status, headers, _ = http_get(port, f"/p/{token}")
        if status != 302:
            raise SystemExit(f"opening a personal link answered {status}")
        cookie = _cookie(headers)
        status, headers, html = http_get(port, "/vote", cookie)
        if status != 200:
            raise SystemExit(f"the voting page answered {status}")
        cookie = _cookie(headers, cookie)  # now holds the CSRF secret
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        round_id = re.search(r'name="round" value="(\d+)"', html).group(1)
        session = Session(cookie, csrf, round_id)
        body = urlencode({"csrf_token": csrf, "round": round_id, "intent": "autosave",
                          **{f"rating-{i}": "7" for i in item_ids[:3]}})
        status, _, text = http_get(port, "/vote", cookie, "POST", body)
        if status != 200:
            raise SystemExit(f"an autosave answered {status}: {text[:300]}")
        sessions.append(session)
    return sessions


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
  counter = (tid or 0) * 7
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


def write_script(directory: Path, mode: str, path: str, sessions: list[Session],
                 items: list[int], threads: int) -> Path:
    rows = ", ".join("{" + ", ".join(lua_string(v) for v in (s.cookie, s.csrf, s.round_id)) + "}"
                     for s in sessions)
    script = directory / f"{mode.replace(' ', '-').lower()}.lua"
    script.write_text(LUA % {
        "mode": lua_string(mode), "path": lua_string(path), "sessions": "{" + rows + "}",
        "items": "{" + ", ".join(str(i) for i in items) + "}",
        "per_thread": max(1, len(sessions) // threads),
    })
    return script


def run_wrk(port: int, script: Path, seconds: float, connections: int, threads: int) -> Run:
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


# --- main -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panellists", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=32,
                        help="panellist sessions the vote targets rotate through")
    parser.add_argument("--comment-rate", type=float, default=0.005,
                        help="share of round-1 ratings with a comment")
    parser.add_argument("--seconds", type=float, default=10,
                        help="seconds per target, split over --repeats interleaved runs")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--database", default=f"bench_voting_{os.getpid()}")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    with seed.bench_database(args.database, keep=args.keep_database) as url, \
            tempfile.TemporaryDirectory(prefix="delphi-bench-") as tmp:
        tokens, max_id, item_ids, summary = seed_voting_study(
            url, args.panellists, args.items, args.sessions, args.comment_rate)
        port = free_port()
        server = start_gunicorn(url, port, args.workers, args.worker_class,
                                Path(tmp) / "gunicorn.log")
        try:
            sessions = open_sessions(port, tokens, item_ids)
            scripts = {
                "one-query": write_script(Path(tmp), "one-query",
                                          f"/_bench/one-query?max={max_id}", [], [],
                                          args.threads),
                "vote GET": write_script(Path(tmp), "vote GET", "/vote", sessions, [],
                                         args.threads),
                "vote POST": write_script(Path(tmp), "vote POST", "/vote", sessions,
                                          item_ids[:3], args.threads),
            }
            targets = {name: Target(name) for name in TARGETS}
            for name in TARGETS:  # compile templates, fill pools and caches
                run_wrk(port, scripts[name], args.warmup, args.connections, args.threads)
            per_run = args.seconds / args.repeats
            for _ in range(args.repeats):
                for name in TARGETS:
                    targets[name].runs.append(run_wrk(port, scripts[name], per_run,
                                                      args.connections, args.threads))
        finally:
            stop(server)
    return report(args, summary, targets)


def report(args: argparse.Namespace, summary: str, targets: dict[str, Target]) -> int:
    print(f"voting page load: {args.panellists} panellists, {args.items} statements, round 2 "
          f"open with round-1 feedback ({summary})")
    print(f"gunicorn {args.workers} {args.worker_class} workers on {HOST}; wrk -t{args.threads} "
          f"-c{args.connections}, {args.repeats} x {args.seconds / args.repeats:g} s per target, "
          f"interleaved, after a {args.warmup:g} s warm-up each; {args.sessions} sessions")
    print(f"{'target':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12} "
          f"{'socket errors':>14}")
    bad = 0
    for name, target in targets.items():
        p50 = statistics.mean(r.p50_ms for r in target.runs)
        p99 = max(r.p99_ms for r in target.runs)
        status = sum(r.bad_status for r in target.runs)
        errors = sum(r.socket_errors for r in target.runs)
        bad += status + errors
        print(f"{name:<11} {target.rate:>8.1f} {p50:>8.2f} {p99:>8.2f} {status:>12d} "
              f"{errors:>14d}")
    ratio = targets["vote GET"].rate / targets["one-query"].rate
    post_ratio = targets["vote POST"].rate / targets["one-query"].rate
    print(f"ratio voting page / one-query: {ratio:.3f} (target >= 0.20: "
          f"{'met' if ratio >= 0.20 else 'NOT met'})")
    print(f"ratio vote POST / one-query: {post_ratio:.3f}")
    print("p50: mean of the runs' medians; p99: the worst run's")
    if bad:
        print(f"FAILED: {bad} responses were not 2xx/3xx or failed on the socket")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
