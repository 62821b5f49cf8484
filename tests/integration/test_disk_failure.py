#!/usr/bin/python3
"""A node whose disk fails stops serving rather than acknowledge what it
did not persist (fail-stop), and comes back with everything it had
acknowledged.

The nodes run under libfiu's POSIX preload (as fiu-run -x runs them,
Debian's fiu-utils), and fiu-ctrl makes fsync and fdatasync, or write,
fail in one running node. Skipped where the preload cannot run dkvd (a
sanitizer build: the preload's wrappers crash ASan's start-up). Checked, on a 3-node cluster:
  - writes acknowledged before the failure survive it and a restart;
  - no write that fails on the disk is acknowledged: the client gets an
    error or a broken connection, never OK;
  - the node exits with status 3 (dkvd --help) instead of going on;
  - the other nodes go on serving their shards meanwhile;
  - restarted on a healthy disk, the node serves again.
"""
import os
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import (Cluster, fiu_arm, fiu_ctrl, fiu_unusable,  # noqa: E402
                     wait_until)

EXIT_DISK_FAILURE = 3


class DiskFailure(unittest.TestCase):
    def setUp(self):
        why = fiu_unusable()
        if why:
            self.skipTest(why)
        self.cl = Cluster(n=3, shards=6)
        self.fifo = os.path.join(self.cl.dir, "fiu-ctrl")
        for nd in self.cl.nodes:
            fiu_arm(nd, self.fifo)
        self.cl.__enter__()

    def tearDown(self):
        self.cl.close()

    def fail_and_check(self, point):
        victim = self.cl.nodes[1]
        other = self.cl.nodes[0]
        c = other.client()  # forwards to the victim for its keys
        before = {"before%d" % i: "v%d" % i for i in range(200)}
        for k, v in before.items():
            self.assertTrue(c.set(k, v))
        mine = victim.keys_owned(50, "after")
        fiu_ctrl(victim, self.fifo, "enable name=%s" % point)
        acked_after = []
        outcomes = {"error": 0, "ok": 0}
        for k in mine:
            try:
                if victim.client().set(k, "x"):
                    acked_after.append(k)
                    outcomes["ok"] += 1
            except (redis.ConnectionError, redis.ResponseError,
                    redis.TimeoutError):
                outcomes["error"] += 1
            if victim.proc.poll() is not None:
                break
        wait_until(lambda: victim.proc.poll() is not None, timeout=10,
                   what="the node to stop after its disk failed")
        self.assertEqual(victim.proc.returncode, EXIT_DISK_FAILURE)
        self.assertGreater(outcomes["error"], 0)
        # Keys the victim does not own still work on the others.
        for k in other.keys_owned(5, "alive"):
            self.assertTrue(c.set(k, "1"))
            self.assertEqual(c.get(k), b"1")
        victim.proc = None
        victim.env = {}  # a healthy disk
        victim.start()
        for k, v in before.items():
            self.assertEqual(c.get(k), v.encode(), k)
        for k in acked_after:  # if any: acknowledged, so durable
            self.assertEqual(c.get(k), b"x", k)
        self.assertTrue(c.set("after-restart", "y"))
        self.assertEqual(victim.client().get("after-restart"), b"y")
        return outcomes

    def test_fsync_failure(self):
        out = self.fail_and_check("posix/io/sync/*")
        self.assertEqual(out["ok"], 0, "acknowledged a write whose fsync "
                         "failed")

    def test_write_failure(self):
        # write() fails for sockets too: replies are lost, which is fine.
        self.fail_and_check("posix/io/rw/write")


if __name__ == "__main__":
    unittest.main()
