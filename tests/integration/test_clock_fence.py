#!/usr/bin/python3
"""A node whose wall clock is set beyond the maximum offset from the
others' fences itself: it issues and accepts no epoch until its clock is
back, while the others go on serving. Within the offset nothing changes.

Regression test of what the fault tests found (tests/chaos/README.md):
real-time order was lost under `clock-beyond`, because nothing stopped a
node with a clock seconds off from committing at its own time (clock
ahead: readers elsewhere missed the write, acknowledged before they
began; clock behind: its readers missed writes committed elsewhere).

The nodes run under libfaketime (Debian's faketime), which steps the wall
clock of one of them and leaves the monotonic clock alone, as an NTP step
does. Checked, on a 3-node cluster (max offset 500 ms):
  - a clock 2 s ahead, then 2 s behind: that node answers every write
    and transaction with an error naming its clock, never OK, and INFO
    says `clock_state:fenced`; a transaction from another node that
    touches its shards fails too (it refuses their epochs);
  - the two other nodes keep serving their own keys;
  - set right, the node serves again within seconds;
  - a skew of 300 ms (within the offset) fences nothing;
  - every acknowledged write is there at the end.
"""
import os
import sys
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import (FAKETIME_LIB, Cluster, faketime_arm,  # noqa: E402
                     set_skew, wait_until)


def info(nd):
    return nd.client().info("all")


class ClockFence(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(FAKETIME_LIB):
            self.skipTest("libfaketime not installed (Debian's faketime)")
        self.cl = Cluster(n=3, shards=6)
        self.files = {}
        for nd in self.cl.nodes:
            self.files[nd.id] = os.path.join(self.cl.dir,
                                             "faketime-node%d" % nd.id)
            faketime_arm(nd, self.files[nd.id])
        self.cl.__enter__()
        self.acked = {}
        # Every node has measured both peers' clocks.
        for nd in self.cl.nodes:
            wait_until(lambda: info(nd)["clock_measurements"] >= 4,
                       what="node %d measures its peers" % nd.id)

    def tearDown(self):
        self.cl.close()

    def write(self, nd, key, value):
        self.assertTrue(nd.client().set(key, value))
        self.acked[key] = value

    def state(self, nd):
        return info(nd)["clock_state"]

    def skew(self, nd, seconds):
        set_skew(self.files[nd.id], seconds)

    def check_fenced(self, victim, tag):
        others = [nd for nd in self.cl.nodes if nd is not victim]
        wait_until(lambda: self.state(victim) == "fenced", timeout=5,
                   what="node %d fences itself" % victim.id)
        for nd in others:
            self.assertEqual(self.state(nd), "serving")
        c = victim.client()
        for k in victim.keys_owned(5, tag + "v"):
            with self.assertRaises(redis.ResponseError) as ctx:
                c.set(k, "never")
            self.assertIn("clock", str(ctx.exception))
            self.assertIsNone(c.get(k))
        # A transaction on its keys, coordinated by it.
        k = victim.keys_owned(1, tag + "t")[0]
        p = c.pipeline(transaction=True)
        p.set(k, "never")
        with self.assertRaises(redis.ResponseError) as ctx:
            p.execute()
        self.assertIn("clock", str(ctx.exception))
        # A transaction coordinated elsewhere that touches its keys: it
        # refuses the coordinator's epochs.
        mine = others[0].keys_owned(1, tag + "m")[0]
        p = others[0].client().pipeline(transaction=True)
        p.set(mine, "never")
        p.set(k, "never")
        with self.assertRaises(redis.RedisError):
            p.execute()
        self.assertIsNone(others[0].client().get(mine))
        self.assertIsNone(others[0].client().get(k))
        # The others serve their own keys.
        for nd in others:
            for k in nd.keys_owned(5, tag + "o%d_" % nd.id):
                self.write(nd, k, "ok")

    def test_fenced_beyond_offset_serving_within(self):
        victim = self.cl.nodes[1]
        for nd in self.cl.nodes:
            for k in nd.keys_owned(5, "before%d_" % nd.id):
                self.write(nd, k, "b")

        for tag, seconds in (("ahead", 2.0), ("behind", -2.0)):
            self.skew(victim, seconds)
            self.check_fenced(victim, tag)
            self.skew(victim, 0.0)
            wait_until(lambda: self.state(victim) == "serving", timeout=5,
                       what="node %d serves again" % victim.id)
            for k in victim.keys_owned(5, tag + "after"):
                self.write(victim, k, "a")
        self.assertGreaterEqual(info(victim)["clock_fenced_count"], 2)

        # Within the offset: nothing is fenced.
        self.skew(victim, 0.3)
        time.sleep(1.5)  # read again by the node, measured by its peers
        for nd in self.cl.nodes:
            self.assertEqual(self.state(nd), "serving")
        for k in victim.keys_owned(5, "within"):
            self.write(victim, k, "w")
        p = self.cl.nodes[0].client().pipeline(transaction=True)
        ks = [nd.keys_owned(1, "wtx")[0] for nd in self.cl.nodes]
        for k in ks:
            p.set(k, "tx")
        self.assertEqual(p.execute(), [True] * len(ks))
        for k in ks:
            self.acked[k] = "tx"
        self.skew(victim, 0.0)

        c = self.cl.nodes[2].client()
        for k, v in self.acked.items():
            got = c.get(k)
            self.assertEqual(got, v.encode(), "acknowledged %s lost" % k)


if __name__ == "__main__":
    unittest.main()
