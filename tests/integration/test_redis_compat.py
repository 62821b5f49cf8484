"""dkv answers like Redis: the same commands sent to a redis-server and to
a dkv node must get byte-identical replies, through raw sockets, redis-cli
and python3-redis (pipelines included).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, free_ports, wait_until  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")

# (command, ...) sent in order to both servers on one connection.
SCRIPT = [
    ["PING"], ["PING", "hello"], ["ECHO", "e\x00cho"],
    ["GET", "nokey"], ["SET", "k1", "v1"], ["GET", "k1"],
    ["SET", "k1", "v2", "NX"], ["SET", "k1", "v2", "XX"], ["GET", "k1"],
    ["SET", "k2", "x", "XX"], ["SET", "k2", "x", "NX"],
    ["SET", "k1", "v3", "GET"], ["SET", "nope", "v", "XX", "GET"],
    ["SET", "k1", "v", "NX", "XX"], ["SET", "k1"],
    ["SETNX", "k1", "z"], ["SETNX", "k3", "z"],
    ["EXISTS", "k1", "k2", "nokey", "k1"], ["MGET", "k1", "nokey", "k2"],
    ["DEL", "k1", "nokey", "k2"], ["DEL", "k1"], ["EXISTS", "k1"],
    ["INCR", "n"], ["INCRBY", "n", "41"], ["DECR", "n"],
    ["DECRBY", "n", "-10"], ["INCRBY", "n", "notanumber"],
    ["SET", "s", "abc"], ["INCR", "s"], ["SET", "big", "9223372036854775807"],
    ["INCR", "big"], ["INCRBY", "n", "9223372036854775807"],
    ["SET", "z", "007"], ["INCR", "z"],
    ["APPEND", "a", "hello"], ["APPEND", "a", " world"], ["GET", "a"],
    ["APPEND", "n", "0"], ["GET", "n"],
    ["GET"], ["GET", "a", "b"], ["NOSUCHCOMMAND", "x"],
    ["set", "MiXeD", "case"], ["gEt", "MiXeD"], ["SELECT", "0"],
]


def raw_session(port, script):
    """Sends every command as RESP on one connection; returns the raw
    reply bytes of each, split by a RESP reply reader."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    out = b""
    for cmd in script:
        out += b"*%d\r\n" % len(cmd)
        for a in cmd:
            a = a.encode("latin-1") if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)
    buf, replies = b"", []

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk

    def line(pos):
        while True:
            i = buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            need(len(buf) + 1)

    def one(pos):
        need(pos + 1)
        end = line(pos)
        t, body = buf[pos:pos + 1], buf[pos + 1:end]
        if t in b"+-:":
            return end + 2
        if t == b"$":
            n = int(body)
            if n < 0:
                return end + 2
            need(end + 2 + n + 2)
            return end + 2 + n + 2
        if t == b"*":
            n, p = int(body), end + 2
            for _ in range(max(n, 0)):
                p = one(p)
            return p
        raise ValueError("bad reply %r" % buf[pos:pos + 20])

    for _ in script:
        end = one(0)
        replies.append(buf[:end])
        buf = buf[end:]
    s.close()
    return replies


@unittest.skipUnless(REDIS_SERVER and REDIS_CLI, "redis-server not installed")
class RedisCompat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dkv-compat-")
        cls.redis_port = free_ports(1)[0]
        cls.redis = subprocess.Popen(
            [REDIS_SERVER, "--port", str(cls.redis_port), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
             cls.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: redis.Redis(port=cls.redis_port).ping(),
                       what="redis-server")
            cls.cluster = Cluster(n=1, shards=4).__enter__()
        except BaseException:
            cls.redis.kill()
            raise
        cls.dkv_port = cls.cluster.nodes[0].port

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        cls.redis.kill()
        cls.redis.wait()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_raw_replies_are_identical(self):
        want = raw_session(self.redis_port, SCRIPT)
        got = raw_session(self.dkv_port, SCRIPT)
        for cmd, w, g in zip(SCRIPT, want, got):
            if cmd[0].upper() == "NOSUCHCOMMAND":
                # Redis quotes the arguments after the name.
                self.assertTrue(g.startswith(w[:30]), (cmd, w, g))
                continue
            self.assertEqual(g, w, "command %r" % (cmd,))

    def test_redis_cli_output_is_identical(self):
        cmds = [["SET", "cli", "value"], ["GET", "cli"], ["INCR", "cli:n"],
                ["MGET", "cli", "cli:n", "none"], ["DEL", "cli", "none"],
                ["EXISTS", "cli"], ["APPEND", "cli:s", "x"],
                ["SET", "cli", "v", "NX"]]
        for cmd in cmds:
            outs = [subprocess.run([REDIS_CLI, "-p", str(p)] + cmd,
                                   capture_output=True, timeout=10).stdout
                    for p in (self.redis_port, self.dkv_port)]
            self.assertEqual(outs[1], outs[0], cmd)
        # Pipe mode (redis-cli --pipe sends raw protocol).
        proto = "".join("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n"
                        % (len("pipe%d" % i), "pipe%d" % i)
                        for i in range(1000))
        res = subprocess.run([REDIS_CLI, "-p", str(self.dkv_port), "--pipe"],
                             input=proto.encode(), capture_output=True,
                             timeout=30)
        self.assertIn(b"errors: 0, replies: 1000", res.stdout)

    def test_info_sections(self):
        # INFO <section ...> returns those sections only, as Redis does.
        def bulk(raw):
            head, _, rest = raw.partition(b"\r\n")
            self.assertTrue(head.startswith(b"$"), raw[:40])
            return rest[:int(head[1:])].decode()

        script = [["INFO", "clients"], ["INFO", "SERVER", "clients"],
                  ["INFO", "nosuch"], ["INFO", "all"]]
        for port in (self.redis_port, self.dkv_port):
            one, two, none, every = [bulk(x) for x in
                                     raw_session(port, script)]
            self.assertTrue(one.startswith("# Clients\r\n"), one)
            self.assertEqual(one.count("# "), 1, one)
            self.assertFalse(one.endswith("\r\n\r\n"), repr(one[-8:]))
            self.assertEqual([ln for ln in two.split("\r\n")
                              if ln.startswith("#")],
                             ["# Server", "# Clients"])
            self.assertEqual(none, "")
            self.assertGreater(every.count("# "), 3)

    def test_python_pipeline_matches(self):
        def run(port):
            c = redis.Redis(port=port)
            p = c.pipeline(transaction=False)
            for i in range(100):
                p.set("pp%d" % i, i)
                p.incr("ppc")
                p.get("pp%d" % i)
                p.append("ppa", "x")
                p.exists("pp%d" % i, "none")
            return p.execute()
        self.assertEqual(run(self.dkv_port), run(self.redis_port))


if __name__ == "__main__":
    unittest.main(verbosity=2)
