#!/usr/bin/env python3
"""Bulkhead's benchmark: the request path against PostgreSQL's own limit.

Seeds a PostgreSQL database through the real migrations, starts the release binary as the
row-level-security-bound `bulkhead_app` role, drives it over loopback with wrk (tokens spread
over up to 100 organizations), runs pgbench on the same SQL the server sends, measures agents'
runs end to end and clients following them as Server-Sent Events, and writes a report with a
latency chart. Standard library only; needs wrk, pgbench and psql on PATH.

    scripts/bench.py --size full     # 1,000 organizations x 1,000 projects (1M rows)
    scripts/bench.py --size quick    # a small run that shows the harness works

Benchmarks are not tests: nothing here asserts a speed. The run fails only when the harness
itself fails or a scenario answers errors.
"""

import argparse
import base64
import concurrent.futures
import http.client
import datetime
import hashlib
import hmac
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-secret-bench-secret-bench-secret-0123"
PASSWORD = "bench password one"
DATABASE = "bulkhead_bench"
HISTORY_MARKER = "<!-- history: kept by scripts/bench.py -->"
# name: (echo runs end to end, event streams, runs they follow)
RUNS = {"quick": (100, 50, 5), "full": (2000, 1000, 50)}
# name: (10 MB uploads, chunks of text searched)
DOCUMENTS = {"quick": (2, 5_000), "full": (10, 100_000)}
# The searched chunks' words: w0001 .. w2000, sixty to a chunk, so that a word is in about 3%
# of the chunks and two words together in about 0.1%, as selective as a real search.
VOCABULARY = 2000
SIZES = {
    # name: (organizations at each growth step, projects per organization, seconds per run)
    "quick": ([5, 20], 50, 3),
    "full": ([10, 100, 1000], 1000, 15),
}


def log(message):
    print(f"[bench] {message}", flush=True)


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs).stdout


# Deterministic ids, so that wrk's Lua and pgbench's SQL can name rows without a lookup.
def org_id(n):
    return f"{n:08x}-0000-7000-8000-000000000000"


def user_id(n):
    return f"{n:08x}-0000-7000-8000-000000000001"


def sql_org(expr):
    return f"(lpad(to_hex({expr}), 8, '0') || '-0000-7000-8000-000000000000')"


def sql_user(expr):
    return f"(lpad(to_hex({expr}), 8, '0') || '-0000-7000-8000-000000000001')"


def session_id(n):
    return f"{n:08x}-0000-7000-8000-000000000003"


def sql_session(expr):
    return f"(lpad(to_hex({expr}), 8, '0') || '-0000-7000-8000-000000000003')"


def sql_project(n_expr, k_expr):
    return f"(lpad(to_hex({n_expr}), 8, '0') || '-' || lpad(to_hex({k_expr}), 4, '0') || '-7000-8000-000000000002')"


class Postgres:
    def __init__(self, admin_url):
        self.admin_url = admin_url
        base = admin_url.rsplit("/", 1)[0]
        self.owner_url = f"{base}/{DATABASE}"
        scheme, rest = self.owner_url.split("://", 1)
        host = rest.split("@", 1)[-1]
        self.app_url = f"{scheme}://bulkhead_app@{host}"

    def psql(self, url, sql):
        return run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", url, "-c", sql])

    def recreate(self):
        self.psql(self.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        self.psql(self.admin_url, f"CREATE DATABASE {DATABASE}")

    def seed(self, first, last, per_org, password_hash):
        """Organizations first..last, each with an owner and per_org projects."""
        log(f"seeding organizations {first}..{last} with {per_org} projects each")
        n = "n"
        self.psql(
            self.owner_url,
            f"""
            INSERT INTO organizations (id, name, created_at)
              SELECT {sql_org(n)}::uuid, 'Bench org ' || n, now() FROM generate_series({first}, {last}) n;
            INSERT INTO users (id, email, name, password_hash, created_at)
              SELECT {sql_user(n)}::uuid, 'user' || n || '@bench.local', 'User ' || n, '{password_hash}', now()
              FROM generate_series({first}, {last}) n;
            INSERT INTO memberships (organization_id, user_id, role, created_at)
              SELECT {sql_org(n)}::uuid, {sql_user(n)}::uuid, 'owner', now() FROM generate_series({first}, {last}) n;
            INSERT INTO sessions (id, user_id, organization_id, created_at, last_used_at, expires_at)
              SELECT {sql_session(n)}::uuid, {sql_user(n)}::uuid, {sql_org(n)}::uuid, now(), now(), now() + interval '30 days'
              FROM generate_series({first}, {last}) n;
            INSERT INTO projects (organization_id, id, name, description, created_by, created_at, updated_at, version)
              SELECT {sql_org(n)}::uuid, {sql_project(n, 'k')}::uuid, 'Project ' || k, 'Seeded for the benchmark',
                     {sql_user(n)}::uuid, now() - make_interval(secs => k), now(), 1
              FROM generate_series({first}, {last}) n, generate_series(1, {per_org}) k;
            -- A trigger put each on the free plan; the benchmark creates far past its limits.
            UPDATE billing_subscriptions SET plan = 'enterprise'
              WHERE organization_id IN (SELECT {sql_org(n)}::uuid FROM generate_series({first}, {last}) n);
            """,
        )
        # What autovacuum would do in time: statistics, and the visibility map that lets the
        # page's total be counted from the index alone. VACUUM cannot run in a transaction.
        self.psql(self.owner_url, "VACUUM (ANALYZE) projects")
        # Written back now, not by a checkpoint in the middle of a measurement.
        self.psql(self.admin_url, "CHECKPOINT")

    def rows(self):
        return int(self.psql(self.owner_url, "SELECT count(*) FROM projects").strip())

    def seed_chunks(self, chunks):
        """`chunks` indexed chunks of text in 100 ready documents of organization 1."""
        log(f"seeding {chunks} chunks of document text in organization 1")
        # Each of a chunk's words drawn apart by a hash: an arithmetic rule made a chunk's words
        # a progression, so two words were found together in 3% of the chunks or in none.
        word = f"'w' || lpad(((hashint8(i::int8 * 64 + g)::int8 % {VOCABULARY} + {VOCABULARY}) % {VOCABULARY} + 1)::text, 4, '0')"
        self.psql(
            self.owner_url,
            f"""
            INSERT INTO documents (organization_id, id, created_by, created_at, updated_at, version, title,
                                   filename, content_type, size_bytes, sha256, status, chunk_count)
              SELECT {sql_org('1')}::uuid, ('00000001-' || lpad(to_hex(d), 4, '0') || '-7000-8000-000000000004')::uuid,
                     {sql_user('1')}::uuid, now(), now(), 1, 'Document ' || d, 'doc' || d || '.txt', 'text/plain',
                     0, repeat('0', 64), 'ready', {chunks // 100}
              FROM generate_series(1, 100) d;
            INSERT INTO document_chunks (organization_id, document_id, seq, content)
              SELECT {sql_org('1')}::uuid, ('00000001-' || lpad(to_hex(1 + i % 100), 4, '0') || '-7000-8000-000000000004')::uuid,
                     1 + i / 100, (SELECT string_agg({word}, ' ') FROM generate_series(1, 60) g)
              FROM generate_series(0, {chunks - 1}) i;
            """,
        )
        self.psql(self.owner_url, "VACUUM (ANALYZE) document_chunks")
        self.psql(self.owner_url, "VACUUM (ANALYZE) documents")
        self.psql(self.admin_url, "CHECKPOINT")


def jwt(org_n, ttl=3600):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = {"typ": "at+jwt", "alg": "HS256", "kid": "primary"}
    claims = {
        "iss": "bulkhead",
        "aud": "bulkhead-api",
        "sub": user_id(org_n),
        "org": org_id(org_n),
        "sid": session_id(org_n),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class Server:
    def __init__(self, binary, pg, bcrypt_cost, port):
        self.binary, self.pg, self.cost, self.port = binary, pg, bcrypt_cost, port
        self.process = None
        self.base = f"http://127.0.0.1:{port}"
        self.storage = tempfile.mkdtemp(prefix="bulkhead-bench-blobs-")

    def start(self):
        env = dict(
            os.environ,
            DATABASE_URL=self.pg.app_url,
            BULKHEAD_JWT_SECRET=SECRET,
            BULKHEAD_BIND=f"127.0.0.1:{self.port}",
            BULKHEAD_BCRYPT_COST=str(self.cost),
            # The per-principal limiter runs on every request but never trips (wrk sends far
            # more than a real client may), and the per-address login limit is off because all
            # of wrk's logins come from one address.
            BULKHEAD_REQUESTS_PER_MINUTE="1000000000",
            BULKHEAD_AUTH_ATTEMPTS_PER_MINUTE="0",
            BULKHEAD_STORAGE_URL=self.storage,
            RUST_LOG="warn",
        )
        self.log = tempfile.NamedTemporaryFile(prefix="bulkhead-bench-", suffix=".log", delete=False)
        self.process = subprocess.Popen([self.binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{self.base}/health/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.1)
        raise SystemExit(f"the server did not become ready; see {self.log.name}")

    def rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def peak_rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.storage, ignore_errors=True)

    def post(self, path, body, token=None, timeout=30):
        request = urllib.request.Request(
            f"{self.base}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)


def percentile(values, share):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def uploads(server, token, count, size_mb=10, threads=2):
    """`count` uploads of a `size_mb` MB text file by `threads` clients: MB/s from the first
    byte sent to the last 201, and the server's resident memory before and at its highest
    while they stream (sampled every 20 ms)."""
    boundary = "bulkhead-bench-boundary"
    line = b"quarterly revenue grew in every region while costs held steady\n"
    content = line * (size_mb * 1024 * 1024 // len(line))
    body = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"bench.txt\"\r\n"
            "content-type: text/plain\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    headers = {"authorization": f"Bearer {token}", "content-type": f"multipart/form-data; boundary={boundary}"}
    before = server.rss_mb()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss_mb())
            time.sleep(0.02)

    def send(_):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        started = time.monotonic()
        connection.request("POST", "/api/v1/documents", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, (time.monotonic() - started) * 1000

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(send, range(count)))
    elapsed = time.monotonic() - start
    done.set()
    sampler.join()
    errors = sum(1 for status, _ in results if status != 201)
    mb = len(content) * count / (1024 * 1024)
    result = {"uploads": count, "size_mb": len(content) / (1024 * 1024), "mb_s": mb / elapsed,
              "p50": percentile([ms for _, ms in results], 0.5), "rss_before": before,
              "rss_peak": peak[0], "errors": errors}
    log(f"uploads: {count} x {result['size_mb']:.1f} MB at {result['mb_s']:.1f} MB/s, "
        f"RSS {before:.1f} MB before, {peak[0]:.1f} MB at most while streaming, errors {errors}")
    return result


def extracted(server, token, timeout=600):
    """Waits until no document of the token's organization is waiting for its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{server.base}/api/v1/documents?limit=100",
                                         headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            pending = [d for d in json.load(response)["data"] if d["status"] in ("uploaded", "processing")]
        if not pending:
            return
        time.sleep(0.5)
    raise SystemExit("documents were still being extracted after 10 minutes")


def bench_agents(server, orgs):
    """An echo configuration and an agent in each of the first `orgs` organizations."""
    agents = []
    for n in range(1, orgs + 1):
        token = jwt(n)
        config = server.post("/api/v1/agent-configs", {"name": "Bench echo", "agent_type": "custom", "model": "echo"}, token)
        agent = server.post("/api/v1/agents", {"agent_key": "bench-echo", "config_id": config["id"]}, token)
        agents.append((token, agent["id"]))
    return agents


def succeeded(server, agents):
    total = 0
    for token, agent in agents:
        request = urllib.request.Request(f"{server.base}/api/v1/agents/{agent}/metrics",
                                         headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            total += json.load(response)["by_status"].get("succeeded", 0)
    return total


def runs_end_to_end(server, agents, count, threads=16):
    """Starts `count` echo runs (0 ms) over HTTP, spread over the agents, and waits until every
    one has succeeded: runs per second from the first request to the last success."""
    before = succeeded(server, agents)
    latencies = []
    errors = 0

    def start(i):
        token, agent = agents[i % len(agents)]
        began = time.perf_counter()
        server.post(f"/api/v1/agents/{agent}/runs", {"input": {"n": i}}, token)
        return (time.perf_counter() - began) * 1000

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(start, i) for i in range(count)]:
            try:
                latencies.append(future.result())
            except Exception:  # noqa: BLE001 (counted, not raised: a benchmark reports errors)
                errors += 1
    deadline = time.perf_counter() + 600
    while succeeded(server, agents) < before + count - errors and time.perf_counter() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - began
    done = succeeded(server, agents) - before
    result = {"runs": count, "succeeded": done, "seconds": elapsed, "rps": done / elapsed, "errors": errors + (count - errors - done),
              "p50": percentile(latencies, 0.5) if latencies else float("nan"),
              "p99": percentile(latencies, 0.99) if latencies else float("nan")}
    log(f"runs    {count} echo runs: {result['rps']:.1f} runs/s end to end, start p50 {result['p50']:.2f} ms "
        f"p99 {result['p99']:.2f} ms, errors {result['errors']}")
    return result


def completed_sessions(server, agents):
    total = 0
    for token, _ in agents:
        request = urllib.request.Request(f"{server.base}/api/v1/work-sessions?status=completed&limit=1",
                                         headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            total += json.load(response)["total"]
    return total


def work_end_to_end(server, agents, count, threads=16):
    """Creates and starts `count` work sessions (no checkpoint) on one project per agent's
    organization, and waits until every one has completed with its report: sessions per second
    from the first request to the last completion; p50 and p99 of create + start."""
    projects = [server.post("/api/v1/projects", {"name": "Bench work"}, token)["id"] for token, _ in agents]
    before = completed_sessions(server, agents)
    latencies = []
    errors = 0

    def start(i):
        token, agent = agents[i % len(agents)]
        project = projects[i % len(agents)]
        began = time.perf_counter()
        session = server.post(f"/api/v1/projects/{project}/work-sessions",
                              {"task_type": "research", "task_intent": f"Bench task {i}", "agent_id": agent}, token)
        server.post(f"/api/v1/work-sessions/{session['id']}/start", None, token)
        return (time.perf_counter() - began) * 1000

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(start, i) for i in range(count)]:
            try:
                latencies.append(future.result())
            except Exception:  # noqa: BLE001 (counted, not raised: a benchmark reports errors)
                errors += 1
    deadline = time.perf_counter() + 600
    while completed_sessions(server, agents) < before + count - errors and time.perf_counter() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - began
    done = completed_sessions(server, agents) - before
    result = {"sessions": count, "completed": done, "seconds": elapsed, "rate": done / elapsed,
              "errors": errors + (count - errors - done),
              "p50": percentile(latencies, 0.5) if latencies else float("nan"),
              "p99": percentile(latencies, 0.99) if latencies else float("nan")}
    log(f"work    {count} sessions: {result['rate']:.1f} sessions/s end to end, create + start p50 "
        f"{result['p50']:.2f} ms p99 {result['p99']:.2f} ms, errors {result['errors']}")
    return result


def read_stream(server, token, run, connected):
    """Follows one run's events to the end; answers when the terminal status arrived (monotonic
    seconds), or None."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        connection.request("GET", f"/api/v1/runs/{run}/events",
                           headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"})
        response = connection.getresponse()
        connected.release()
        if response.status != 200:
            return None
        terminal = None
        event, data = None, None
        while True:
            line = response.readline()
            if not line:
                return terminal
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and event == "status" and data and data.get("status") in ("succeeded", "failed", "timed_out", "cancelled"):
                terminal = time.time()
    except OSError:
        return None
    finally:
        connection.close()


def event_streams(server, agents, streams, runs, delay_ms=1500):
    """`streams` clients follow `runs` echo runs (each waiting `delay_ms`), all connected before
    the runs end: how late the terminal event reaches them, and the server's memory meanwhile."""
    started = []
    for i in range(runs):
        token, agent = agents[i % len(agents)]
        run = server.post(f"/api/v1/agents/{agent}/runs", {"input": {"delay_ms": delay_ms}}, token)
        started.append((token, run["id"]))
    connected = threading.Semaphore(0)
    with concurrent.futures.ThreadPoolExecutor(streams) as pool:
        futures = [pool.submit(read_stream, server, *started[i % runs], connected) for i in range(streams)]
        for _ in range(streams):
            connected.acquire(timeout=60)
        rss_streaming = server.rss_mb()
        arrivals = [f.result() for f in futures]
    delays, failed = [], 0
    finished = {}
    for (token, run), arrived in zip([started[i % runs] for i in range(streams)], arrivals):
        if arrived is None:
            failed += 1
            continue
        if run not in finished:
            request = urllib.request.Request(f"{server.base}/api/v1/runs/{run}", headers={"authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.load(response)
            finished[run] = datetime.datetime.fromisoformat(body["finished_at"].replace("Z", "+00:00")).timestamp()
        delays.append(max(0.0, arrived - finished[run]) * 1000)
    result = {"streams": streams, "runs": runs, "failed": failed, "rss": rss_streaming,
              "p50": percentile(delays, 0.5) if delays else float("nan"),
              "p99": percentile(delays, 0.99) if delays else float("nan"),
              "max": max(delays) if delays else float("nan")}
    log(f"streams {streams} event streams over {runs} runs: terminal event p50 {result['p50']:.1f} ms "
        f"p99 {result['p99']:.1f} ms after the run finished, server RSS {rss_streaming:.1f} MB, failed {failed}")
    return result


LUA_COMMON = """
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + tid)
  seq = 0
end
"""


def lua_script(scenario, tokens, per_org):
    token_list = ",".join(f'"{t}"' for t in tokens)
    pick = f"""
local tokens = {{{token_list}}}
local per_org = {per_org}
local function pick()
  local i = math.random(1, #tokens)
  return i, {{ ["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json" }}
end
local function project(i)
  return string.format("%08x-%04x-7000-8000-000000000002", i, math.random(1, per_org))
end
"""
    bodies = {
        "list": 'local i, h = pick(); return wrk.format("GET", "/api/v1/projects?limit=20", h)',
        "get": 'local i, h = pick(); return wrk.format("GET", "/api/v1/projects/" .. project(i), h)',
        "create": (
            'local i, h = pick(); seq = seq + 1; '
            'return wrk.format("POST", "/api/v1/projects", h, '
            'string.format(\'{"name":"bench %d-%d-%d"}\', tid, seq, math.random(1, 1000000000)))'
        ),
        "update": (
            'local i, h = pick(); seq = seq + 1; '
            'return wrk.format("PATCH", "/api/v1/projects/" .. project(i), h, '
            'string.format(\'{"description":"changed %d-%d"}\', tid, seq))'
        ),
        "search": (
            'local i, h = pick(); '
            'return wrk.format("GET", string.format("/api/v1/documents/search?q=w%04d%%20w%04d", '
            f'math.random(1, {VOCABULARY}), math.random(1, {VOCABULARY})), h)'
        ),
        "login": (
            'local i, h = pick(); h["Authorization"] = nil; '
            'return wrk.format("POST", "/api/v1/auth/login", h, '
            f'string.format(\'{{"email":"user%d@bench.local","password":"{PASSWORD}"}}\', i))'
        ),
    }
    return LUA_COMMON + pick + f"request = function()\n  {bodies[scenario]}\nend\n"


def to_ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output):
    result = {"rps": 0.0, "p50": None, "p99": None, "max": None, "errors": 0, "requests": 0, "timeouts": 0}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Latency") and "Distribution" not in line:
            result["max"] = to_ms(line.split()[3])
        elif line.startswith("50%"):
            result["p50"] = to_ms(line.split()[1])
        elif line.startswith("99%"):
            result["p99"] = to_ms(line.split()[1])
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        elif "requests in" in line:
            result["requests"] = int(line.split()[0])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["errors"] += int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["errors"] += sum(int(x) for x in re.findall(r"(\d+)", line))
            # wrk counts a reply that came after its timeout as one, and leaves it out of the latencies.
            result["timeouts"] = int(re.search(r"timeout (\d+)", line).group(1))
    return result


def wrk(server, scenario, tokens, per_org, seconds, connections, workdir):
    script = os.path.join(workdir, f"{scenario}.lua")
    with open(script, "w") as f:
        f.write(lua_script(scenario, tokens, per_org))
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", script, server.base]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def measure(server, scenario, tokens, per_org, seconds, connections, workdir):
    process = wrk(server, scenario, tokens, per_org, seconds, connections, workdir)
    output, _ = process.communicate()
    result = parse_wrk(output)
    log(f"{scenario:7} c={connections:3}: {result['rps']:9.1f} req/s  p50 {result['p50']:.2f} ms  "
        f"p99 {result['p99']:.2f} ms  max {result['max']:.2f} ms  errors {result['errors']}")
    return result


# The statements the server sends for one request, as seen in PostgreSQL's statement log
# (`log_statement = all`), with the ids computed from pgbench's random organization number:
# one transaction enters the tenant (the membership, session and organization checks, whose
# answer the server compares with the grant it authorized the request with) and turns itself
# read-only in the same statement, runs the query and rolls back (a read has nothing to commit;
# the server's ROLLBACK travels with the pool's check of the released connection). The grant
# itself comes from the server's cache; on a miss (once per session and cache lifetime, or
# after a role change) one more statement reads it before the transaction.
ENTER_TENANT = ("SELECT e.member_role, e.role_permissions, e.read_only FROM set_config('transaction_read_only', 'on', true) AS read_only "
                f"LEFT JOIN bulkhead_enter_tenant({sql_org('(:n)::int')}::uuid, {sql_user('(:n)::int')}::uuid, {sql_session('(:n)::int')}::uuid, false) AS e ON true;")
PGBENCH_TENANT = f"""
BEGIN;
{ENTER_TENANT}
"""
# The order the kit's adapter selects them in (crates/infra/src/resources.rs): the lifecycle
# every tenant table shares, then the resource's own columns.
PROJECT_COLUMNS = ('"projects"."organization_id", "projects"."id", "projects"."created_by", "projects"."created_at", '
                   '"projects"."updated_at", "projects"."version", "projects"."deleted_at", "projects"."deleted_by", '
                   '"projects"."name", "projects"."description"')
PGBENCH_SCRIPTS = {
    "list": PGBENCH_TENANT + f"""
SELECT {PROJECT_COLUMNS}, COALESCE((SELECT "live" FROM "project_counts" WHERE "organization_id" = {sql_org('(:n)::int')}::uuid), 0) AS "total" FROM "projects" WHERE "projects"."organization_id" = {sql_org('(:n)::int')}::uuid AND "projects"."deleted_at" IS NULL ORDER BY "projects"."created_at" DESC, "projects"."id" DESC LIMIT 20 OFFSET 0;
ROLLBACK;
""",
    # A project's read counts its work in the same transaction (crates/infra/src/work.rs,
    # `project_detail`): the bench's owner holds work:read.
    "get": PGBENCH_TENANT + f"""
SELECT {PROJECT_COLUMNS} FROM "projects" WHERE "projects"."organization_id" = {sql_org('(:n)::int')}::uuid AND "projects"."id" = {sql_project('(:n)::int', '(:k)::int')}::uuid AND "projects"."deleted_at" IS NULL LIMIT 1;
SELECT "work_sessions"."status", COUNT(*) FROM "work_sessions" WHERE "work_sessions"."organization_id" = {sql_org('(:n)::int')}::uuid AND "work_sessions"."project_id" = {sql_project('(:n)::int', '(:k)::int')}::uuid AND "work_sessions"."deleted_at" IS NULL GROUP BY "work_sessions"."status" UNION ALL (SELECT 'artifacts', COUNT(*) FROM "work_artifacts" WHERE "work_artifacts"."organization_id" = {sql_org('(:n)::int')}::uuid AND "work_artifacts"."project_id" = {sql_project('(:n)::int', '(:k)::int')}::uuid AND "work_artifacts"."review_status" = 'pending_review' AND "work_artifacts"."deleted_at" IS NULL);
ROLLBACK;
""",
    # The search's statement as crates/infra/src/documents.rs sends it: two words, both needed.
    "search": PGBENCH_TENANT + f"""
\\set a random(1, {VOCABULARY})
\\set b random(1, {VOCABULARY})
SELECT d.id, d.title, d.filename, d.content_type, d.project_id, c.seq, c.content, ts_rank(c.tsv, q.query)::float8 AS rank FROM to_tsquery('english', 'w' || lpad((:a)::text, 4, '0') || ' & w' || lpad((:b)::text, 4, '0')) AS q(query) JOIN document_chunks c ON c.tsv @@ q.query JOIN documents d ON d.organization_id = c.organization_id AND d.id = c.document_id WHERE c.organization_id = {sql_org('(:n)::int')}::uuid AND d.deleted_at IS NULL ORDER BY rank DESC, d.id, c.seq LIMIT 10;
ROLLBACK;
""",
}


def pgbench(pg, scenario, token_orgs, per_org, seconds, connections, workdir):
    script = os.path.join(workdir, f"{scenario}.sql")
    with open(script, "w") as f:
        f.write(f"\\set n random(1, {token_orgs})\n\\set k random(1, {per_org})\n")
        f.write(PGBENCH_SCRIPTS[scenario])
    # The server's sessions plan every prepared statement once (Store::connect); so do these.
    # And they are plain TCP (the server's driver is built without TLS), where libpq would
    # otherwise negotiate TLS on loopback and pay for encryption the server does not.
    env = dict(os.environ, PGOPTIONS="-c plan_cache_mode=force_generic_plan", PGSSLMODE="disable")
    # A sample of the transactions' latencies, for the limit's own p50 and p99 at this
    # concurrency; a fifth of them keeps the log's cost out of the throughput.
    prefix = os.path.join(workdir, f"pgbench-{scenario}-latencies")
    output = run(["pgbench", "-n", "-M", "prepared", f"-c{connections}", "-j2", f"-T{seconds}",
                  "-l", "--sampling-rate=0.2", f"--log-prefix={prefix}", "-f", script, pg.app_url],
                 env=env)
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", output).group(1)) if "failed transactions" in output else 0
    # Each line: client, transaction, latency in microseconds, ...
    samples = sorted(int(line.split()[2]) / 1000
                     for name in os.listdir(workdir) if name.startswith(os.path.basename(prefix) + ".")
                     for line in open(os.path.join(workdir, name)))
    p50, p99 = (samples[min(len(samples) - 1, int(len(samples) * q))] if samples else float("nan") for q in (0.5, 0.99))
    log(f"pgbench {scenario:5} c={connections:3}: {tps:9.1f} tx/s  latency avg {latency:.2f} ms  "
        f"p50 {p50:.2f} ms  p99 {p99:.2f} ms  failed {failed}")
    return {"tps": tps, "latency": latency, "p50": p50, "p99": p99, "failed": failed}


def svg_chart(results, path):
    """Grouped bars of p50 and p99 latency per scenario, with a log-free linear axis."""
    names = list(results)
    top = max(max(r["p99"] or 0, r["p50"] or 0) for r in results.values()) * 1.15 or 1
    width, height, left, bottom = 120 * len(names) + 80, 360, 60, 300
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="20" font-size="14">Latency per scenario (ms): p50 (dark), p99 (light)</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="40" x2="{left}" y2="{bottom}" stroke="black"/>']
    for tick in range(5):
        value = top * tick / 4
        y = bottom - (bottom - 40) * tick / 4
        parts.append(f'<text x="{left - 8}" y="{y + 4:.0f}" text-anchor="end">{value:.1f}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.0f}" x2="{width - 10}" y2="{y:.0f}" stroke="#ddd"/>')
    for i, name in enumerate(names):
        x = left + 20 + i * 120
        for j, (key, color) in enumerate([("p50", "#1f4e79"), ("p99", "#8ab6e0")]):
            value = results[name][key] or 0
            h = (bottom - 40) * value / top
            parts.append(f'<rect x="{x + j * 42}" y="{bottom - h:.1f}" width="38" height="{h:.1f}" fill="{color}"/>')
            parts.append(f'<text x="{x + j * 42 + 19}" y="{bottom - h - 4:.1f}" text-anchor="middle">{value:.1f}</text>')
        parts.append(f'<text x="{x + 40}" y="{bottom + 18}" text-anchor="middle">{name}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def machine():
    mem_kb = int(open("/proc/meminfo").readline().split()[1])
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {
        "rustc": run(["rustc", "--version"]).strip(),
        "PostgreSQL": run(["psql", "--version"]).strip(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip(),
        "pgbench": run(["pgbench", "--version"]).strip(),
    }
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "kernel": platform.release(), **versions}


def report(path, size, args, m, growth, scenarios, during, pgb, rss, chart_name, runs, streams, work, documents):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # The server's own defaults unless the environment that started it overrode them.
    workers = os.environ.get("BULKHEAD_WORKERS", "2")
    pool = os.environ.get("BULKHEAD_DB_MAX_CONNECTIONS", "10")
    # PostgreSQL runs on this machine, so by default reads take turns: two per core.
    reads = os.environ.get("BULKHEAD_DB_MAX_READS", str(2 * (os.cpu_count() or 1)))
    reserve = os.environ.get("BULKHEAD_HASHING_RESERVE_PERCENT", "25")
    in_time = during["requests"] - during["timeouts"]
    login_p50 = f", p50 {during['p50']:.0f} ms" if in_time > 0 and during["p50"] is not None else ""
    lines = [
        "# Bulkhead benchmarks", "",
        f"Run: {now}, size `{size}`, {args.seconds} s per scenario, {args.connections} connections, "
        f"bcrypt cost {args.bcrypt_cost}. Reproduce with `make bench` (or `make bench-quick`).", "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"{m['rustc']}; {m['PostgreSQL']}; {m['wrk']}; {m['pgbench']}. Server, PostgreSQL and the load "
        "generator share the machine.", "",
        f"The server runs the release build as `bulkhead_app` (row-level security on), {workers} HTTP "
        f"worker{'s' if workers != '1' else ''}, each with its own pool ({pool} connections between them; the background "
        f"tasks and the listener for role changes have 3 more), and at most {reads} read-only requests in PostgreSQL at once "
        "(`BULKHEAD_DB_MAX_READS`; by default two per core when PostgreSQL runs on the same machine); wrk spreads requests over the tokens of up to 100 organizations. "
        "The per-principal rate limiter counts every request with a limit too high to trip; the "
        "per-address login limit is off (all logins come from 127.0.0.1).", "",
        "## Scenarios", "",
        "| scenario | req/s | p50 ms | p99 ms | max ms | errors |", "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in scenarios.items():
        lines.append(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | {r['errors']} |")
    lines += ["", "Scenario 6 starts once the logins that scenario 5 left queued are hashed. "
              f"While it ran, its 20 login connections completed {during['requests']} logins in "
              f"{args.seconds + 2} s: {in_time} within wrk's 10 s timeout{login_p50}, {during['timeouts']} later; "
              f"{during['errors'] - during['timeouts']} other errors. Hashing runs at the lowest CPU priority, "
              "so it gets what the readers leave, "
              + ("and there is no reserve thread (`BULKHEAD_HASHING_RESERVE_PERCENT=0`)." if reserve == "0" else
                 f"plus a reserve thread held to {reserve}% of one core when that is too little."),
              "", f"Peak RSS of the server over the whole run: {rss:.1f} MB.", "",
              "## Runs", "",
              f"Agents' runs end to end with the built-in `echo` executor at 0 ms, on the in-process worker "
              f"(`BULKHEAD_RUN_CONCURRENCY` {os.environ.get('BULKHEAD_RUN_CONCURRENCY', '4')}, at most "
              f"{os.environ.get('BULKHEAD_RUN_PER_ORGANIZATION', '2')} per organization), spread over the agents of "
              "10 organizations and started by 16 client threads: from the first start to the last success.", "",
              "| runs | runs/s | start p50 ms | start p99 ms | not succeeded |", "|---:|---:|---:|---:|---:|",
              f"| {runs['runs']} | {runs['rps']:.1f} | {runs['p50']:.2f} | {runs['p99']:.2f} | {runs['errors']} |", "",
              f"{streams['streams']} clients follow {streams['runs']} runs (each waiting 1,500 ms) as Server-Sent Events, all "
              "connected before the runs end. The delay is from the run's `finished_at` (stored with its terminal event) to "
              "the client reading that event; the events reach the server's streams through PostgreSQL's LISTEN/NOTIFY.", "",
              "| streams | terminal event p50 ms | p99 ms | max ms | server RSS while streaming | failed |", "|---:|---:|---:|---:|---:|---:|",
              f"| {streams['streams']} | {streams['p50']:.1f} | {streams['p99']:.1f} | {streams['max']:.1f} | {streams['rss']:.1f} MB | {streams['failed']} |", "",
              "## Work sessions", "",
              "Work sessions without a checkpoint, created and started over HTTP (two requests each) by 16 client "
              "threads on one project in each of the same 10 organizations; each start queues a run in the same "
              "transaction, and the session completes with its `report` artifact in the run's own: from the first "
              "create to the last completion.", "",
              "| sessions | sessions/s | create + start p50 ms | p99 ms | not completed |", "|---:|---:|---:|---:|---:|",
              f"| {work['sessions']} | {work['rate']:.1f} | {work['p50']:.2f} | {work['p99']:.2f} | {work['errors']} |", "",
              "## Documents", "",
              f"{documents[0]['uploads']} uploads of a {documents[0]['size_mb']:.0f} MB text file by two clients, "
              "streamed to the local blob store (multipart form, the server counting, type-checking and hashing "
              "as the bytes arrive); the extraction worker indexes each one meanwhile. Resident memory sampled "
              "every 20 ms.", "",
              "| uploads | MB/s | upload p50 ms | server RSS before | RSS at most while uploading | errors |",
              "|---:|---:|---:|---:|---:|---:|",
              f"| {documents[0]['uploads']} | {documents[0]['mb_s']:.1f} | {documents[0]['p50']:.0f} | "
              f"{documents[0]['rss_before']:.1f} MB | {documents[0]['rss_peak']:.1f} MB | {documents[0]['errors']} |", "",
              f"Scenario 7 searches {documents[1]} chunks of text (100 documents of one organization, 60 words each from "
              f"a vocabulary of {VOCABULARY}) for two random words, both needed, at {args.connections} connections; "
              "its pgbench line below runs the same statements.", "",
              "## Against PostgreSQL's own limit", "",
              "pgbench runs the statements the server sends for one request (BEGIN, entering the tenant "
              "with the membership check and turning the transaction read-only, the query, ROLLBACK), prepared, "
              "at the same concurrency, as `bulkhead_app`, with the server's session settings (generic plans), "
              "over plain TCP as the server connects. The request's grant comes from the server's cache, so the statement that "
              "reads it on a miss is not part of the steady state. The server also pings each connection "
              "as it returns to the pool (sqlx does, always; the ROLLBACK travels with that ping), which pgbench does not.", "",
              "pgbench's latencies come from a fifth of its transactions, sampled by pgbench itself; "
              "they are PostgreSQL's own at this concurrency, with no HTTP, JSON or token in the way.", "",
              "| scenario | server req/s | pgbench tx/s | ratio | server p50 / p99 ms | pgbench p50 / p99 ms |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, key in (("1. list", "list"), ("2. get", "get"), ("7. search", "search")):
        server, limit = scenarios[name], pgb[key]
        lines.append(f"| {name} | {server['rps']:.0f} | {limit['tps']:.0f} | {server['rps'] / limit['tps']:.2f} | "
                     f"{server['p50']:.2f} / {server['p99']:.2f} | {limit['p50']:.2f} / {limit['p99']:.2f} |")
    lines += ["", "## Growth", "", "Scenario 1 at each table size (projects rows):", "",
              "| rows | p50 ms | p99 ms | req/s | p50 / smallest |", "|---:|---:|---:|---:|---:|"]
    base = growth[0][1]["p50"]
    for rows, r in growth:
        lines.append(f"| {rows} | {r['p50']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} | {r['p50'] / base:.2f} |")
    lines += ["", f"![latency chart]({chart_name})", ""]
    # Everything from the history marker on is written by hand (before/after of changes) and kept.
    history = ""
    if os.path.exists(path):
        with open(path) as f:
            previous = f.read()
        if HISTORY_MARKER in previous:
            history = previous[previous.index(HISTORY_MARKER):]
    with open(path, "w") as f:
        f.write("\n".join(lines) + ("\n" + history if history else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bcrypt-cost", type=int, default=12)
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "bulkhead"))
    parser.add_argument("--admin-url", required=True, help="superuser URL of the PostgreSQL server")
    parser.add_argument("--out", help="report path (default docs/benchmarks.md for full, target/ for quick)")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    steps, per_org, seconds = SIZES[args.size]
    args.seconds = args.seconds or seconds
    out = args.out or (os.path.join(ROOT, "docs", "benchmarks.md") if args.size == "full"
                       else os.path.join(ROOT, "target", "bench-quick", "benchmarks.md"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    for tool in ("wrk", "pgbench", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk postgresql-client)")

    pg = Postgres(args.admin_url)
    pg.recreate()
    run([args.binary, "migrate", "--admin-database-url", pg.owner_url])
    server = Server(args.binary, pg, args.bcrypt_cost, args.port)
    workdir = tempfile.mkdtemp(prefix="bulkhead-bench-")
    failures = []
    try:
        server.start()
        # One real sign-up gives a genuine bcrypt hash at the configured cost for every seeded user.
        server.post("/api/v1/auth/register", {"email": "template@bench.local", "password": PASSWORD,
                                               "name": "Template", "organization_name": "Template"})
        password_hash = pg.psql(pg.owner_url, "SELECT password_hash FROM users WHERE email = 'template@bench.local'").strip()

        growth, seeded = [], 0
        for orgs in steps:
            pg.seed(seeded + 1, orgs, per_org, password_hash)
            seeded = orgs
            token_orgs = min(100, orgs)
            tokens = [jwt(n) for n in range(1, token_orgs + 1)]
            rows = pg.rows()
            result = measure(server, "list", tokens, per_org, args.seconds, args.connections, workdir)
            growth.append((rows, result))

        scenarios = {"1. list": growth[-1][1]}
        scenarios["2. get"] = measure(server, "get", tokens, per_org, args.seconds, args.connections, workdir)
        scenarios["3. create"] = measure(server, "create", tokens, per_org, args.seconds, args.connections, workdir)
        scenarios["4. update"] = measure(server, "update", tokens, per_org, args.seconds, args.connections, workdir)
        scenarios["5. login"] = measure(server, "login", tokens, per_org, args.seconds, 20, workdir)
        # When its wrk stops, up to 20 of its logins are still queued for hashing: actix-web does not
        # cancel a handler whose client has gone. One more login returns once they are done (the
        # queue is first in, first out), so that scenario 6 starts without them.
        server.post("/api/v1/auth/login", {"email": "user1@bench.local", "password": PASSWORD}, timeout=300)
        logins = wrk(server, "login", tokens, per_org, args.seconds + 2, 20, workdir)
        time.sleep(1)
        scenarios["6. list + 20 logins"] = measure(server, "list", tokens, per_org, args.seconds, args.connections, workdir)
        # Not a scenario: how the logins fared meanwhile. Their timeouts are reported, not failed.
        during = parse_wrk(logins.communicate()[0])
        log(f"logins during scenario 6: {during['requests']} in all, {during['timeouts']} after 10 s, "
            f"other errors {during['errors'] - during['timeouts']}")
        agents = bench_agents(server, min(10, token_orgs))
        run_count, stream_count, stream_runs = RUNS[args.size]
        runs = runs_end_to_end(server, agents, run_count)
        streams = event_streams(server, agents, stream_count, stream_runs)
        work = work_end_to_end(server, agents, run_count // 2)
        if work["errors"]:
            failures.append(f"work sessions: {work['errors']} of {work['sessions']} did not complete")
        if runs["errors"]:
            failures.append(f"runs: {runs['errors']} of {runs['runs']} did not succeed")
        if streams["failed"]:
            failures.append(f"event streams: {streams['failed']} of {streams['streams']} failed")
        upload_count, chunk_count = DOCUMENTS[args.size]
        docs = uploads(server, jwt(1), upload_count)
        if docs["errors"]:
            failures.append(f"uploads: {docs['errors']} of {docs['uploads']} were not stored")
        extracted(server, jwt(1))
        pg.seed_chunks(chunk_count)
        scenarios["7. search"] = measure(server, "search", [jwt(1)], per_org, args.seconds, args.connections, workdir)
        rss = server.peak_rss_mb()
        # The logins whose clients left are still queued for hashing (actix-web does not cancel
        # a handler whose client has gone), and the reserve hashing thread would keep working
        # them off at normal priority while pgbench runs.
        server.stop()

        pgb = {key: pgbench(pg, key, token_orgs, per_org, args.seconds, args.connections, workdir)
               for key in ("list", "get")}
        pgb["search"] = pgbench(pg, "search", 1, per_org, args.seconds, args.connections, workdir)
        for name, r in scenarios.items():
            if r["errors"] or not r["requests"]:
                failures.append(f"{name}: {r['errors']} errors in {r['requests']} requests")
        chart = os.path.splitext(out)[0] + "-latency.svg"
        svg_chart(scenarios, chart)
        report(out, args.size, args, machine(), growth, scenarios, during, pgb, rss, os.path.basename(chart), runs, streams, work,
               (docs, chunk_count))
        log(f"peak RSS {rss:.1f} MB; report written to {out}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            pg.psql(pg.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass
    if failures:
        raise SystemExit("scenarios answered errors: " + "; ".join(failures))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(f"command failed: {' '.join(err.cmd)}\n{err.stdout}\n{err.stderr}")
