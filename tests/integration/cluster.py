"""Real dkvd processes on 127.0.0.1 for integration tests.

A Cluster starts N nodes on free ports under a temporary directory,
creates the cluster by sending every node the same map (DKV.SETMAP), and
stops, kills and restarts nodes by PID. Every process it starts is
stopped at the end, whatever happens.
"""
import json
import os
import random
import shutil
import sys
import signal
import socket
import subprocess
import tempfile
import time

import redis

DKVD = os.environ.get("DKVD", os.path.join(os.path.dirname(__file__),
                                            "../../build/bin/dkvd"))


def free_ports(n):
    """n distinct loopback ports that were free a moment ago."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except (redis.exceptions.ConnectionError, OSError):
            pass
        except redis.exceptions.ResponseError as e:
            if not str(e).startswith(("TRYAGAIN", "CLUSTERDOWN")):
                raise
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


class Node:
    def __init__(self, cluster, node_id, port):
        self.cluster = cluster
        self.id = node_id
        self.port = port
        self.host = "127.0.0.1"  # another one in a network namespace
        self.dir = os.path.join(cluster.dir, "node%d" % node_id)
        self.proc = None
        self.wrap = []  # a command prefix (fiu-run -x, ip netns exec...)
        self.env = {}   # extra environment (FAKETIME, LD_PRELOAD...)

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        extra = []
        if self.cluster.password:
            extra += ["--node-password", self.cluster.password]
        secret = self.cluster.secrets.get(self.id, self.cluster.secret)
        if secret:
            extra += ["--cluster-secret", secret]
        with open(os.path.join(self.dir, "dkvd.log"), "ab") as log:
            self.proc = subprocess.Popen(
                self.wrap + [DKVD, "--node-id", str(self.id),
                             "--node-listen", self.addr, "--node-dir",
                             self.dir, "--store-durability",
                             self.cluster.durability] + extra,
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                env=dict(os.environ, **self.env) if self.env else None)
        wait_until(lambda: self.client().ping(), what="node %d" % self.id)

    def client(self, **kw):
        if self.cluster.password and "password" not in kw:
            kw["password"] = self.cluster.password
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host=self.host, port=self.port, **kw)

    def keys_owned(self, n, prefix):
        """n keys whose shards this node owns (found by asking it)."""
        c = self.client()
        out, i = [], 0
        while len(out) < n:
            k = "%s%d" % (prefix, i)
            i += 1
            if int(c.execute_command("DKV.SHARDOF", k)[1]) == self.id:
                out.append(k)
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.proc = None


FIU_CTRL = shutil.which("fiu-ctrl")
FIU_LIBS = ("/usr/lib/fiu/fiu_run_preload.so",
            "/usr/lib/fiu/fiu_posix_preload.so")
# A preloaded library comes before ASan's runtime in the sanitizer build.
ASAN_PRELOAD_OK = "verify_asan_link_order=0"


def asan_preload_ok(env):
    """ASAN_OPTIONS from env, plus leave to preload before ASan."""
    return (env.get("ASAN_OPTIONS", "") + ":" + ASAN_PRELOAD_OK).lstrip(":")


def preload(nd, libs, env):
    """Adds libraries to a node's LD_PRELOAD (several fault injectors
    compose) and variables to its environment."""
    have = nd.env.get("LD_PRELOAD", "").split()
    nd.env["LD_PRELOAD"] = " ".join(have + [x for x in libs
                                            if x not in have])
    nd.env.update(env)
    nd.env["ASAN_OPTIONS"] = asan_preload_ok(os.environ)


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def faketime_arm(nd, path):
    """Runs node nd under libfaketime (Debian's faketime), its wall clock
    offset by the seconds in file path (set_skew), read again at most a
    second later. The monotonic clock is left alone, as a stepped wall
    clock leaves it."""
    set_skew(path, 0.0)
    preload(nd, [FAKETIME_LIB], {
        "FAKETIME_TIMESTAMP_FILE": path,
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "DONT_FAKE_MONOTONIC": "1"})


def set_skew(path, seconds):
    """Sets the offset a faketime_arm'ed node reads (atomically)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%+.3f\n" % seconds)
    os.replace(tmp, path)


def fiu_unusable():
    """Why libfiu's POSIX preload cannot run dkvd here, or None. It cannot
    when fiu-utils is missing, or under AddressSanitizer (the preload's
    wrappers crash ASan's start-up): tried on `dkvd --version`."""
    if not FIU_CTRL or not all(os.path.exists(x) for x in FIU_LIBS):
        return "fiu-utils not installed"
    env = dict(os.environ, LD_PRELOAD=" ".join(FIU_LIBS), FIU_ENABLE="",
               FIU_CTRL_FIFO="")
    env["ASAN_OPTIONS"] = asan_preload_ok(env)
    try:
        p = subprocess.run([DKVD, "--version"], env=env, timeout=10,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "dkvd hangs under libfiu's preload"
    if p.returncode != 0:
        return "dkvd fails under libfiu's preload (status %d; a " \
               "sanitizer build?)" % p.returncode
    return None


def fiu_arm(nd, fifo):
    """Runs a node under libfiu's POSIX preload, as `fiu-run -x` does,
    with its control pipes at fifo-PID.{in,out} (fiu-ctrl -f fifo)."""
    preload(nd, FIU_LIBS, {"FIU_ENABLE": "", "FIU_CTRL_FIFO": fifo})


def fiu_ctrl(nd, fifo, command, check=True):
    subprocess.run([FIU_CTRL, "-f", fifo, "-c", command, str(nd.proc.pid)],
                   check=check, timeout=10, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class Cluster:
    def __init__(self, n=3, shards=8, family="hash", durability="group",
                 password="", secret="", secrets=None):
        self.dir = tempfile.mkdtemp(prefix="dkv-it-")
        self.password = password
        self.secret = secret
        self.secrets = secrets or {}  # per node id, to test a wrong one
        self.durability = durability
        ports = free_ports(n)
        self.nodes = [Node(self, i + 1, ports[i]) for i in range(n)]
        self.shards = shards
        self.family = family
        self.version = 1
        self.owners = [self.nodes[i % n].id for i in range(shards)]
        self.cluster_id = "%016x" % random.getrandbits(63)

    def map_json(self):
        return json.dumps({
            "format": 1, "cluster": "it", "cluster_id": self.cluster_id,
            "version": self.version,
            "family": {"kind": self.family, "nshards": self.shards},
            "nodes": [{"id": nd.id, "addr": nd.addr, "state": "up"}
                      for nd in self.nodes],
            "shards": self.owners}, separators=(",", ":"))

    def push_map(self):
        m = self.map_json()
        for nd in self.nodes:
            if nd.proc is not None:
                assert nd.client().execute_command("DKV.SETMAP", m) == b"OK"

    def __enter__(self):
        try:
            for nd in self.nodes:
                nd.start()
            self.push_map()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for nd in self.nodes:
            try:
                nd.kill()
            except Exception:
                pass
        if os.environ.get("DKV_KEEP"):  # keep data and logs to debug
            print("cluster kept in", self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
