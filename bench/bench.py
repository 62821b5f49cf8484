#!/usr/bin/python3
"""dkv against Redis and etcd, side by side: the comparison benchmark.

Starts, on 127.0.0.1 and free ports, every system it can:

  dkv           3-node dkv cluster, 16 shards per node, group commit (the
                default durability: a write is answered once its log
                record is fsynced, together with the writes around it)
  dkv-nofsync   the same with --store-durability none (no fsync)
  redis-always  redis-server --appendonly yes --appendfsync always --save ""
  redis-nosave  redis-server --appendonly no --save ""
  etcd          Debian's /usr/bin/etcd, one member, default settings (it
                fsyncs its WAL before it answers a write)
  echo          dkv-bench --serve-echo: the loopback ceiling of the client

loads each once (--workload load and load-T), then runs the matrix of
workloads (bench/workloads.md) with the load generators dkv-bench (RESP:
dkv, Redis, echo) and dkv-bench-etcd (etcd), the systems interleaved (the
order rotated every repetition) so that drift on this shared machine hits
all of them alike. It samples the CPU time of each system's server
processes around every run, checks at the end that workload T's
transfers kept the sum of the accounts on every system, measures dkv
against its cluster size (1-4 nodes, a fresh cluster each), stops every
process it started, and writes bench/results/<date>/ (results.json,
report.md and PNG charts; bench/report.py regenerates the report from
results.json).

Usage: bench/bench.py [--short | --full | --smoke] [--out DIR] [--repeat N]
                      [--seconds S] [--build DIR] [--systems LIST]
                      [--workloads LIST] [--keys N] [--accounts N]
  --short (default) about 5 minutes; --full about an hour; --smoke the
  test suite's cell (workload A, 1 client, 1 s per system, no cluster-size
  series), under 20 s, into --out or else a new temp dir.

Binaries: dkvd is $DKVD, else BUILD/bin/dkvd; dkv-bench is $DKV_BENCH,
else BUILD/bin/dkv-bench; dkv-bench-etcd is $DKV_BENCH_ETCD, else
BUILD/bin/dkv-bench-etcd; redis-server is $REDIS_SERVER, else the one on
PATH; etcd is $ETCD, else /usr/bin/etcd. A system whose binary is missing
is skipped (the report says so).

Exit status: 0; 1 if a driver run failed (non-zero exit, unparsable JSON),
a server did not start, or a consistency check failed; 77 (skipped) in
--smoke when dkvd or dkv-bench is missing. Speed never fails it.
"""
import argparse
import base64
import ctypes
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
from cluster import free_ports, wait_until  # noqa: E402
import redis  # noqa: E402
import report  # noqa: E402

SKIP = 77  # ctest's SKIP_RETURN_CODE
SYSTEMS = report.SYSTEMS  # canonical order
WORKLOADS = report.WORKLOADS
BALANCE = 1000
SHARDS_PER_NODE = 16  # as `dkv local start`
CLK_TCK = os.sysconf("SC_CLK_TCK")

MODES = {
    # seconds, repeat, keys, accounts, client counts of the sweep on A,
    # cluster sizes, pipelined workloads, zipfian workloads
    "smoke": dict(seconds=1.0, repeat=1, keys=1000, accounts=100,
                  clients=[], sizes=[], pipelined=[], zipf=[]),
    "short": dict(seconds=2.0, repeat=2, keys=20000, accounts=1000,
                  clients=[1, 16, 64, 256], sizes=[1, 2, 3, 4],
                  pipelined=[], zipf=["A"]),
    "full": dict(seconds=10.0, repeat=3, keys=100000, accounts=1000,
                 clients=[1, 4, 16, 64, 128, 256], sizes=[1, 2, 3, 4],
                 pipelined=["A", "C"], zipf=list(WORKLOADS)),
}
BASE_CLIENTS = 16   # the workload cells and the summary
SIZE_CLIENTS = 64   # the cluster-size cells
PIPELINE = 16       # the pipelined cells (full)
LOAD_TIMEOUT = 900


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die_with_parent():
    # Servers and drivers must not outlive this script if it is killed
    # (ctest's timeout, a kill -9): the kernel kills them with it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def wait_started(proc, pred, what, logpath, timeout=30):
    def check():
        if proc.poll() is not None:
            raise RuntimeError("%s exited with status %s at start:\n%s" % (
                what, proc.returncode, tail(logpath)))
        return pred()
    wait_until(check, timeout=timeout, what=what)


def stop_procs(procs, what, notes, grace=20):
    """SIGTERM each (by PID), wait, SIGKILL what is left."""
    for p in procs:
        if p is not None and p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except OSError:
                pass
    deadline = time.time() + grace
    for p in procs:
        if p is None:
            continue
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            notes.append("%s (pid %d) did not stop within %d s of SIGTERM: "
                         "killed" % (what, p.pid, grace))
            p.kill()
            p.wait()


def cpu_seconds(pids):
    """{pid: utime + stime in seconds} of these processes (all threads)."""
    out = {}
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError, IndexError):
            out[pid] = None
    return out


def machine_busy_seconds():
    """CPU seconds the whole machine (every core) spent busy so far."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest is in user)
        return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        out = (p.stdout or p.stderr).strip().splitlines()
        return out[0].strip() if p.returncode == 0 and out else None
    except (OSError, subprocess.SubprocessError):
        return None


# --- the systems ---------------------------------------------------------

class BenchNode(cluster.Node):
    """cluster.Node, with the server tied to this script's life."""

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.cmd = [cluster.DKVD, "--node-id", str(self.id),
                    "--node-listen", self.addr, "--node-dir", self.dir,
                    "--store-durability", self.cluster.durability]
        self.log = os.path.join(self.dir, "dkvd.log")
        with open(self.log, "ab") as lg:
            self.proc = subprocess.Popen(
                self.cmd, stdout=lg, stderr=lg, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
        wait_started(self.proc, lambda: self.client().ping(),
                     "dkvd node %d" % self.id, self.log)


class BenchCluster(cluster.Cluster):
    def __init__(self, n, durability, tmproot):
        super().__init__(n=n, shards=SHARDS_PER_NODE * n,
                         durability=durability)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = tempfile.mkdtemp(prefix="dkv-%s-" % durability,
                                    dir=tmproot)
        self.nodes = [BenchNode(self, nd.id, nd.port) for nd in self.nodes]


class System:
    kind = None
    nodes = 1
    grace = 20  # seconds between SIGTERM and SIGKILL at close

    def __init__(self, name):
        self.name = name
        self.procs = []
        self.cmds = []
        self.addrs = ""

    def pids(self):
        return [p.pid for p in self.procs if p is not None]

    def dead(self):
        return [p.pid for p in self.procs if p is None or
                p.poll() is not None]

    def spawn(self, cmd, logname, ready, env=None):
        """Starts one server process (its output in the system's dir) and
        waits until ready() holds; on failure stops it and raises."""
        self.cmds = [cmd]
        self.log = os.path.join(self.dir, logname)
        with open(self.log, "ab") as lg:
            p = subprocess.Popen(cmd, stdout=lg, stderr=lg,
                                 stdin=subprocess.DEVNULL, env=env,
                                 preexec_fn=die_with_parent)
        self.procs = [p]
        try:
            wait_started(p, ready, self.name, self.log)
        except BaseException:
            self.close([])
            raise

    def close(self, notes):
        """Stops what spawn() started and removes the system's dir."""
        stop_procs(self.procs, self.name, notes, grace=self.grace)
        shutil.rmtree(self.dir, ignore_errors=True)

    def info(self):
        return {"kind": self.kind, "durability": self.durability,
                "version": self.version, "pids": self.pids(),
                "addrs": self.addrs, "nodes": self.nodes,
                "commands": [" ".join(c) for c in self.cmds]}


class DkvSystem(System):
    kind = "dkv"

    def __init__(self, name, n, durability, tmproot, dkvd_version):
        super().__init__(name)
        self.nodes = n
        self.cl = BenchCluster(n, durability, tmproot)
        self.version = dkvd_version
        self.durability = {
            "group": "--store-durability group (the default): group "
                     "commit, a write is answered once its log record is "
                     "fsynced, batched with concurrent writes",
            "fsync": "--store-durability fsync: one fsync per write",
            "none": "--store-durability none: no fsync (writes reach the "
                    "OS page cache only)"}[durability]
        self.durability += "; %d nodes, %d shards" % (n, self.cl.shards)
        try:
            for nd in self.cl.nodes:
                nd.start()
                self.procs.append(nd.proc)
                self.cmds.append(nd.cmd)
            self.cl.push_map()
            c = self.cl.nodes[0].client()
            probes = ["bench:probe:%d" % i for i in range(4 * n)]
            wait_until(lambda: all(c.set(k, "1") for k in probes),
                       timeout=30, what="cluster %s to serve" % name)
            c.delete(*probes)
        except BaseException:
            self.close([])
            raise
        self.addrs = ",".join(nd.addr for nd in self.cl.nodes)

    def close(self, notes):
        stop_procs([nd.proc for nd in self.cl.nodes],
                   "%s dkvd" % self.name, notes)
        for nd in self.cl.nodes:
            nd.proc = None
        self.cl.close()


class RedisSystem(System):
    kind = "redis"

    def __init__(self, name, durable, tmproot, binary):
        super().__init__(name)
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=tmproot)
        self.port = free_ports(1)[0]
        self.addrs = "127.0.0.1:%d" % self.port
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--dir", self.dir, "--daemonize", "no"]
        if durable:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
            self.durability = ("appendonly yes, appendfsync always (fsync "
                               "before the reply, batched per event-loop "
                               "iteration), no RDB snapshots (save \"\")")
        else:
            cmd += ["--appendonly", "no"]
            self.durability = ("no persistence: appendonly no, save \"\" "
                               "(memory only)")
        v = first_line([binary, "--version"]) or ""
        self.version = "redis-server " + (
            v.split("v=")[1].split()[0] if "v=" in v else "?")
        self.spawn(cmd, "redis.log",
                   lambda: redis.Redis(port=self.port).ping())


class EtcdSystem(System):
    kind = "etcd"

    def __init__(self, name, tmproot, binary):
        super().__init__(name)
        self.dir = tempfile.mkdtemp(prefix="etcd-", dir=tmproot)
        cport, pport = free_ports(2)
        self.addrs = "127.0.0.1:%d" % cport
        peer = "http://127.0.0.1:%d" % pport
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ETCD_")}
        cmd = [binary, "--name", "bench",
               "--data-dir", os.path.join(self.dir, "data"),
               "--listen-client-urls", "http://" + self.addrs,
               "--advertise-client-urls", "http://" + self.addrs,
               "--listen-peer-urls", peer,
               "--initial-advertise-peer-urls", peer,
               "--initial-cluster", "bench=" + peer,
               "--initial-cluster-state", "new"]
        self.version = (first_line([binary, "--version"]) or
                        "etcd ?").replace("etcd Version:", "etcd")
        self.durability = ("default settings, one member: the raft WAL is "
                           "fsynced before a write is answered (batched "
                           "with concurrent writes)")
        self.spawn(cmd, "etcd.log", lambda: "header" in self.post(
            "/v3/kv/range", {"key": b64("x")}), env=env)

    def post(self, path, obj):
        req = urllib.request.Request(
            "http://%s%s" % (self.addrs, path),
            data=json.dumps(obj).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())


class EchoSystem(System):
    kind = "echo"
    grace = 5

    def __init__(self, name, tmproot, binary, value_size):
        super().__init__(name)
        self.dir = tempfile.mkdtemp(prefix="echo-", dir=tmproot)
        port = free_ports(1)[0]
        self.addrs = "127.0.0.1:%d" % port
        cmd = [binary, "--serve-echo", "--port", str(port), "--value-size",
               str(value_size)]
        self.version = "dkv-bench --serve-echo"
        self.durability = "none: no storage (the loopback ceiling)"
        self.spawn(cmd, "echo.log", lambda: port_open(port))


def b64(s):
    return base64.b64encode(s.encode()).decode()


# --- the drivers ---------------------------------------------------------

class Runner:
    def __init__(self, a, bins):
        self.a = a
        self.bins = bins
        self.runs = []
        self.failures = []

    def driver_for(self, sysobj):
        if sysobj.kind == "etcd":
            return self.bins["dkv-bench-etcd"], "etcd"
        return self.bins["dkv-bench"], {"dkv": "dkv", "redis": "redis",
                                        "echo": "echo"}[sysobj.kind]

    def run(self, sysobj, phase, workload, clients, dist="uniform",
            pipeline=1, rep=0, seed=1, label=""):
        a = self.a
        binary, dsys = self.driver_for(sysobj)
        threads = 2 if clients >= 64 else 1
        cmd = [binary, "--system", dsys, "--addrs", sysobj.addrs,
               "--workload", workload, "--clients", str(clients),
               "--threads", str(threads), "--pipeline", str(pipeline),
               "--keys", str(a.keys), "--accounts", str(a.accounts),
               "--value-size", str(a.value_size), "--dist", dist,
               "--seconds", "%g" % a.seconds, "--seed", str(seed), "--json"]
        timeout = (LOAD_TIMEOUT if workload.startswith("load")
                   else a.seconds + 90)
        rec = {"phase": phase, "system": sysobj.name, "workload": workload,
               "dist": dist, "clients": clients, "threads": threads,
               "pipeline": pipeline, "nodes": sysobj.nodes, "rep": rep,
               "seed": seed, "cmd": cmd, "started": time.time(),
               "result": None, "error": None}
        pids = sysobj.pids()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = cpu_seconds(pids)
        busy0 = machine_busy_seconds()
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=timeout, preexec_fn=die_with_parent)
            rec["rc"] = p.returncode
            out, err = p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rec["rc"] = None
            out = (e.stdout or b"").decode(errors="replace") \
                if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = "timed out after %d s" % timeout
        except OSError as e:
            rec["rc"] = None
            out, err = "", "cannot run the driver: %s" % e
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(pids)
        busy1 = machine_busy_seconds()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rec["wall_s"] = round(wall, 3)
        by_pid = {str(p): round(cpu1[p] - cpu0[p], 3) for p in pids
                  if cpu0.get(p) is not None and cpu1.get(p) is not None}
        rec["server_cpu_by_pid"] = by_pid
        rec["server_cpu_s"] = round(sum(by_pid.values()), 3)
        rec["driver_cpu_s"] = round(
            (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 3)
        if busy0 is not None and busy1 is not None:
            # Everything else on this shared machine (other users, this
            # script, idle systems): the drift the interleaving evens out.
            rec["other_cpu_s"] = round(max(0.0, (busy1 - busy0) -
                                           rec["server_cpu_s"] -
                                           rec["driver_cpu_s"]), 3)
        if err and err.strip():
            rec["stderr"] = err.strip()[-2000:]
        res = None
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                except ValueError:
                    res = None
        if res is not None and not isinstance(res.get("ops_per_s"),
                                              (int, float)):
            res = None
        if rec["rc"] != 0 or res is None:
            if rec["rc"] is None:
                rec["error"] = err
            else:
                rec["error"] = "%s: %s" % (
                    "exit %d" % rec["rc"] if rec["rc"] != 0
                    else "no JSON result", (err or "").strip()[-600:])
            self.failures.append("%s %s %s: %s\n  %s" % (
                phase, sysobj.name, label or workload, rec["error"],
                " ".join(cmd)))
            log("  FAILED %s %s %s: %s" % (sysobj.name, phase,
                                          label or workload, rec["error"]))
        if res is not None:
            rec["result"] = res
            ops = res.get("ops") or 0
            rec["server_cpu_us_per_op"] = (
                round(rec["server_cpu_s"] / ops * 1e6, 2) if ops else None)
            rec["driver_cpu_us_per_op"] = (
                round(rec["driver_cpu_s"] / ops * 1e6, 2) if ops else None)
        self.runs.append(rec)
        return rec


def fmt_run(rec):
    r = rec["result"]
    if r is None:
        return "FAILED"
    lat = r.get("latency_us", {})
    s = "%10.0f ops/s p50 %7.3f p99 %7.3f ms" % (
        r["ops_per_s"], lat.get("p50", 0) / 1e3, lat.get("p99", 0) / 1e3)
    if r.get("errors") or r.get("aborts") or r.get("gave_up"):
        s += " err %d abort %d gave-up %d" % (
            r.get("errors", 0), r.get("aborts", 0), r.get("gave_up", 0))
    if rec.get("server_cpu_us_per_op") is not None:
        s += "  cpu %.2f s (%.1f us/op)" % (rec["server_cpu_s"],
                                            rec["server_cpu_us_per_op"])
    return s


# --- the plan ------------------------------------------------------------

def cell_systems(names, workload, dist, pipeline):
    out = []
    for s in names:
        if workload == "E" and s in ("redis-always", "redis-nosave", "echo"):
            continue  # no range over plain keys; echo cannot scan
        if s == "echo" and dist != "uniform":
            continue  # the ceiling does not depend on the keys chosen
        if s == "etcd" and pipeline > 1:
            continue  # etcd's driver does not pipeline
        out.append(s)
    return out


def plan(mode, names, workloads):
    m = MODES[mode]
    cells = []

    def add(w, dist, clients, pipeline):
        if w not in workloads:
            return
        key = (w, dist, clients, pipeline)
        if any(c["key"] == key for c in cells):
            return
        ss = cell_systems(names, w, dist, pipeline)
        if ss:
            cells.append({"key": key, "workload": w, "dist": dist,
                          "clients": clients, "pipeline": pipeline,
                          "systems": ss})

    if mode == "smoke":
        add("A", "uniform", 1, 1)
        return cells
    for w in WORKLOADS:
        add(w, "uniform", BASE_CLIENTS, 1)
    for w in m["zipf"]:
        add(w, "zipfian", BASE_CLIENTS, 1)
    for w in m["pipelined"]:
        add(w, "uniform", BASE_CLIENTS, PIPELINE)
    for c in m["clients"]:
        add("A", "uniform", c, 1)
    return cells


# --- consistency ---------------------------------------------------------

def check_sums(sysobj, accounts):
    """(sum, problems) of workload T's accounts on one system."""
    total, problems = 0, []
    if sysobj.kind == "etcd":
        r = sysobj.post("/v3/kv/range", {"key": b64("acct:"),
                                         "range_end": b64("acct;")})
        kvs = r.get("kvs", [])
        total = sum(int(base64.b64decode(kv["value"])) for kv in kvs)
        if len(kvs) != accounts:
            problems.append("%d accounts instead of %d" % (len(kvs),
                                                           accounts))
        return total, problems
    prefix = "{acct}:" if sysobj.kind == "redis" else "acct:"
    host, port = sysobj.addrs.split(",")[0].rsplit(":", 1)
    c = redis.Redis(host=host, port=int(port), socket_timeout=30)
    names = ["%s%06d" % (prefix, j) for j in range(accounts)]
    missing = 0
    for i in range(0, accounts, 500):
        for v in c.mget(names[i:i + 500]):
            if v is None:
                missing += 1
            else:
                total += int(v)
    if missing:
        problems.append("%d accounts missing" % missing)
    return total, problems


# --- main ----------------------------------------------------------------

def machine_info(datadir):
    m = {"cpus": os.cpu_count(), "kernel": os.uname().release,
         "cpu_model": None, "mem_total_mib": None, "data_fs": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    m["mem_total_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:  # the file system the servers' data went to (fsync's cost)
        best = ""
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fs = line.split()[:3]
                if (datadir + "/").startswith(mnt.rstrip("/") + "/") and \
                        len(mnt) >= len(best):
                    best, m["data_fs"] = mnt, "%s on %s (%s)" % (fs, dev, mnt)
    except (OSError, ValueError):
        pass
    return m


def driver_version(path):
    """--version's line if the driver has one, else its build time."""
    if not path:
        return None
    v = first_line([path, "--version"])
    if v:
        return v
    try:
        return "built %s" % datetime.datetime.fromtimestamp(
            os.path.getmtime(path)).isoformat(sep=" ", timespec="minutes")
    except OSError:
        return None


def git_commit():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                            "HEAD"], capture_output=True, text=True,
                           timeout=10)
        return p.stdout.strip() or None if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def results_dir(a, date):
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        return os.path.abspath(a.out)
    if a.mode == "smoke":  # a test, not a result: not under bench/results
        return tempfile.mkdtemp(prefix="dkv-bench-smoke-")
    base = os.path.join(HERE, "results")
    os.makedirs(base, exist_ok=True)
    path, i = os.path.join(base, date), 1
    while True:
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            i += 1
            path = os.path.join(base, "%s-%d" % (date, i))


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="dkv against Redis and etcd (bench/workloads.md)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", dest="mode", action="store_const",
                   const="short", help="a few minutes (the default)")
    g.add_argument("--full", dest="mode", action="store_const",
                   const="full", help="about an hour")
    g.add_argument("--smoke", dest="mode", action="store_const",
                   const="smoke", help="the test suite's cell: A, 1 client,"
                   " 1 s per system")
    ap.add_argument("--out", help="results directory (default "
                    "bench/results/<date>[-N]/; --smoke: a new temp dir)")
    ap.add_argument("--repeat", type=int, help="repetitions of each cell")
    ap.add_argument("--seconds", type=float, help="duration of each run")
    ap.add_argument("--keys", type=int, help="records loaded")
    ap.add_argument("--accounts", type=int, help="accounts of workload T")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--build", default=None,
                    help="build directory with bin/ (default build)")
    ap.add_argument("--systems", help="comma-separated subset of " +
                    ",".join(SYSTEMS))
    ap.add_argument("--workloads", help="comma-separated subset of " +
                    ",".join(WORKLOADS))
    a = ap.parse_args(argv)
    a.mode = a.mode or "short"
    m = MODES[a.mode]
    for k in ("repeat", "seconds", "keys", "accounts"):
        if getattr(a, k) is None:
            setattr(a, k, m[k])
    a.systems = (a.systems.split(",") if a.systems else list(SYSTEMS))
    a.workloads = ([w.upper() for w in a.workloads.split(",")]
                   if a.workloads else list(WORKLOADS))
    for s in a.systems:
        if s not in SYSTEMS:
            ap.error("unknown system %r (known: %s)" % (s, ",".join(SYSTEMS)))
    for w in a.workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %r (known: %s)" % (
                w, ",".join(WORKLOADS)))
    if a.repeat < 1 or a.seconds <= 0 or a.keys < 1 or a.accounts < 2:
        ap.error("--repeat, --seconds, --keys must be positive, "
                 "--accounts at least 2")
    a.build = os.path.abspath(a.build) if a.build else os.path.join(
        ROOT, "build")
    return a


def find_binaries(a):
    def exe(p):
        return p if p and os.access(p, os.X_OK) else None
    bindir = os.path.join(a.build, "bin")
    return {
        "dkvd": exe(os.environ.get("DKVD") or os.path.join(bindir, "dkvd")),
        "dkv-bench": exe(os.environ.get("DKV_BENCH") or
                         os.path.join(bindir, "dkv-bench")),
        "dkv-bench-etcd": exe(os.environ.get("DKV_BENCH_ETCD") or
                              os.path.join(bindir, "dkv-bench-etcd")),
        "redis-server": exe(os.environ.get("REDIS_SERVER") or
                            shutil.which("redis-server")),
        "etcd": exe(os.environ.get("ETCD") or "/usr/bin/etcd"),
    }


def needs(name):
    return {"dkv": ["dkvd", "dkv-bench"], "dkv-nofsync": ["dkvd", "dkv-bench"],
            "redis-always": ["redis-server", "dkv-bench"],
            "redis-nosave": ["redis-server", "dkv-bench"],
            "etcd": ["etcd", "dkv-bench-etcd"], "echo": ["dkv-bench"]}[name]


def start_system(name, a, bins, tmproot, dkvd_version, nodes=3):
    if name == "dkv":
        return DkvSystem(name, nodes, "group", tmproot, dkvd_version)
    if name == "dkv-nofsync":
        return DkvSystem(name, nodes, "none", tmproot, dkvd_version)
    if name == "redis-always":
        return RedisSystem(name, True, tmproot, bins["redis-server"])
    if name == "redis-nosave":
        return RedisSystem(name, False, tmproot, bins["redis-server"])
    if name == "etcd":
        return EtcdSystem(name, tmproot, bins["etcd"])
    return EchoSystem(name, tmproot, bins["dkv-bench"], a.value_size)


def load(runner, sysobj, a, series="matrix"):
    ok = True
    if sysobj.kind == "echo":
        return ok
    many = 64 if sysobj.kind == "etcd" else 16
    for w in ("load", "load-T"):
        t0 = time.monotonic()
        rec = runner.run(sysobj, "load", w, many)
        rec["series"] = series
        ok = ok and rec["result"] is not None
        if rec["result"] is not None:
            log("  loaded %-12s %-6s %7d in %5.1f s (%.0f/s)" % (
                sysobj.name, w, a.keys if w == "load" else a.accounts,
                time.monotonic() - t0, rec["result"]["ops_per_s"]))
    return ok


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.time()
    date = datetime.date.today().isoformat()
    bins = find_binaries(a)
    cluster.DKVD = bins["dkvd"] or ""

    missing = [b for b in ("dkvd", "dkv-bench") if not bins[b]]
    if missing and any(s in a.systems for s in ("dkv", "dkv-nofsync")):
        msg = ("%s not found (looked in %s/bin and $DKVD, $DKV_BENCH): "
               "build first (make build)" % (" and ".join(missing), a.build))
        if a.mode == "smoke":
            print("SKIP: " + msg)
            return SKIP
        log(msg)
        return 1

    skipped = {}
    names = []
    for s in a.systems:
        lack = [b for b in needs(s) if not bins[b]]
        if lack:
            skipped[s] = "not run: %s not found" % " and ".join(lack)
            log("%s %s" % (s, skipped[s]))
        else:
            names.append(s)
    for s in SYSTEMS:
        if s not in a.systems and s not in skipped:
            skipped[s] = "not selected (--systems)"
    if not names:
        log("no system can run: binaries missing")
        if a.mode == "smoke":
            print("SKIP: no system can run (binaries missing)")
            return SKIP
        return 1
    m = MODES[a.mode]
    cells = plan(a.mode, names, a.workloads)
    sizes = (m["sizes"] if "dkv" in names and "A" in a.workloads else [])

    dkvd_version = first_line([bins["dkvd"], "--version"]) \
        if bins["dkvd"] else None
    tmproot = tempfile.mkdtemp(prefix="dkv-bench-")
    meta = {
        "format": 1, "tool": "bench/bench.py", "mode": a.mode,
        "date": date, "started": datetime.datetime.fromtimestamp(
            started).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "argv": ["bench/bench.py"] + (sys.argv[1:] if argv is None
                                      else list(argv)),
        "settings": {"seconds": a.seconds, "repeat": a.repeat,
                     "keys": a.keys, "accounts": a.accounts,
                     "value_size": a.value_size,
                     "base_clients": 1 if a.mode == "smoke" else BASE_CLIENTS,
                     "clients_sweep": [c for c in m["clients"]],
                     "cluster_sizes": sizes, "size_clients": SIZE_CLIENTS,
                     "pipeline": PIPELINE, "shards_per_node": SHARDS_PER_NODE,
                     "threads": "2 for 64 clients or more, else 1",
                     "workloads": a.workloads},
        "machine": machine_info(tmproot),
        "binaries": bins,
        "driver_versions": {b: driver_version(bins[b])
                            for b in ("dkv-bench", "dkv-bench-etcd")},
        "systems": {}, "skipped": skipped, "notes": [],
    }
    runner = Runner(a, bins)
    results = {"meta": meta, "runs": runner.runs, "consistency": {},
               "failures": runner.failures}
    live = {}
    interrupted = None

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    total_runs = (a.repeat * sum(len(c["systems"]) for c in cells) +
                  a.repeat * len(sizes))
    log("bench %s: %d systems (%s), %d cells, %d runs of %g s (about %.0f "
        "min with loading)" % (
            a.mode, len(names), ", ".join(names), len(cells), total_runs,
            a.seconds, (total_runs * (a.seconds + 0.3) + 3 * len(names) +
                        3 * len(sizes)) / 60))
    try:
        # Start every system, then load each.
        for s in names:
            log("starting %s" % s)
            try:
                live[s] = start_system(s, a, bins, tmproot, dkvd_version)
                meta["systems"][s] = live[s].info()
            except Exception as e:
                msg = "%s did not start: %s" % (s, e)
                log(msg)
                runner.failures.append(msg)
        for s in list(live):
            if not load(runner, live[s], a):
                runner.failures.append("%s: loading failed; its cells are "
                                       "skipped" % s)
                log("  %s: loading failed, skipped" % s)
                live[s].close(meta["notes"])
                del live[s]

        # The matrix, interleaved: per repetition, per cell, every system
        # one after another, the order rotated every repetition.
        done, t_matrix = 0, time.monotonic()
        dead = set()
        for rep in range(a.repeat):
            rot = names[rep % len(names):] + names[:rep % len(names)] \
                if names else []
            for cell in cells:
                seed = 1 + 1000 * rep + cell["clients"]
                for s in [x for x in rot if x in cell["systems"]]:
                    done += 1
                    if s not in live or s in dead:
                        continue
                    label = "%s %s %dc p%d" % (cell["workload"], cell["dist"],
                                               cell["clients"],
                                               cell["pipeline"])
                    rec = runner.run(live[s], "matrix", cell["workload"],
                                     cell["clients"], cell["dist"],
                                     cell["pipeline"], rep, seed, label)
                    log("[%d/%d] rep %d %-22s %-13s %s" % (
                        done, total_runs, rep + 1, label, s, fmt_run(rec)))
                    if rec["result"] is None and live[s].dead():
                        msg = ("%s: server process(es) %s died; its other "
                               "cells are skipped" % (s, live[s].dead()))
                        log(msg)
                        runner.failures.append(msg)
                        dead.add(s)
        meta["matrix_s"] = round(time.monotonic() - t_matrix, 1)

        # Workload T kept the sum of the accounts on every system.
        for s, so in live.items():
            if so.kind == "echo" or s in dead:
                continue
            want = a.accounts * BALANCE
            try:
                total, problems = check_sums(so, a.accounts)
            except Exception as e:
                total, problems = None, ["cannot read the accounts: %s" % e]
            if total is not None and total != want:
                problems.append("sum of the accounts is %d, loaded %d" % (
                    total, want))
            results["consistency"][s] = {"sum": total, "expected": want,
                                         "ok": not problems,
                                         "problems": problems}
            log("consistency %-13s sum %s (expected %d): %s" % (
                s, total, want, "ok" if not problems else
                "; ".join(problems)))
            if problems:
                runner.failures.append("consistency %s: %s" % (
                    s, "; ".join(problems)))

        # Stop the systems before the cluster-size series.
        for s in list(live):
            live.pop(s).close(meta["notes"])

        # dkv against its cluster size: a fresh cluster per size.
        for n in sizes:
            log("starting dkv with %d node(s)" % n)
            try:
                so = DkvSystem("dkv", n, "group", tmproot, dkvd_version)
            except Exception as e:
                msg = "dkv with %d nodes did not start: %s" % (n, e)
                log(msg)
                runner.failures.append(msg)
                continue
            live["dkv-size"] = so
            try:
                meta["systems"]["dkv-%dnodes" % n] = so.info()
                if load(runner, so, a, "cluster_size"):
                    for rep in range(a.repeat):
                        done += 1
                        label = "A uniform %dc, %d nodes" % (SIZE_CLIENTS, n)
                        rec = runner.run(so, "cluster_size", "A",
                                         SIZE_CLIENTS, rep=rep,
                                         seed=1 + 1000 * rep + SIZE_CLIENTS,
                                         label=label)
                        log("[%d/%d] rep %d %-22s %-13s %s" % (
                            done, total_runs, rep + 1, label, "dkv",
                            fmt_run(rec)))
            finally:
                live.pop("dkv-size").close(meta["notes"])
    except (KeyboardInterrupt, SystemExit) as e:
        interrupted = e
        log("interrupted: stopping everything")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for s in list(live):
            try:
                live.pop(s).close(meta["notes"])
            except Exception as e:
                log("stopping %s: %s" % (s, e))
        shutil.rmtree(tmproot, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    meta["elapsed_s"] = round(time.time() - started, 1)
    meta["complete"] = interrupted is None
    code = None
    if interrupted is not None:
        code = interrupted.code if isinstance(interrupted, SystemExit) \
            else 130
        if not runner.runs:
            return code
    outdir = results_dir(a, date)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    path, summary = report.write_report(results, outdir)
    print(summary)
    print("\nreport: %s" % path)
    for n in meta["notes"]:
        log("note: " + n)
    if code is not None:
        return code
    if runner.failures:
        print("\n%d problem(s):" % len(runner.failures))
        for f in runner.failures:
            print("  " + f.splitlines()[0])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
