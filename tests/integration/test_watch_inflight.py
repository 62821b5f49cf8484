#!/usr/bin/python3
"""A read after WATCH while a plain write of the key is in flight.

Regression test for the lost update the fault tests found (register
workload, tests/chaos/cases/register-lost-update-*.json.gz): a plain SET
was already in the store but not yet completed, WATCH saw its version,
the GET that followed was answered from the node's value cache (which
learns of a write only at completion) with the value from before the SET,
and the compare-and-set built on that GET committed over the SET.

The node runs with DKV_COMMIT_DELAY_MS, which holds every write's
completion after it is durable and visible in the store, so the window is
hundreds of milliseconds wide instead of microseconds.

What a user relies on: a compare-and-set (WATCH k, GET k, MULTI SET k
EXEC) that commits read the newest value; if its GET saw an older value,
EXEC must fail.
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402

DELAY_MS = 400


class WatchWithWriteInFlight(unittest.TestCase):
    def setUp(self):
        os.environ["DKV_COMMIT_DELAY_MS"] = str(DELAY_MS)
        try:
            self.cl = Cluster(n=1, shards=4).__enter__()
        finally:
            os.environ.pop("DKV_COMMIT_DELAY_MS", None)

    def tearDown(self):
        self.cl.close()

    def cas_during_set(self, key, check_first):
        nd = self.cl.nodes[0]
        w, c = nd.client(), nd.client()
        self.assertTrue(w.set(key, "old"))
        if check_first:
            self.assertEqual(c.get(key), b"old")  # now in the value cache
        done = {}

        def slow_set():
            t0 = time.monotonic()
            done["ok"] = w.set(key, "new")
            done["took"] = time.monotonic() - t0
        t = threading.Thread(target=slow_set)
        t.start()
        time.sleep(DELAY_MS / 4000.0)  # in the store, not completed
        p = c.pipeline(transaction=True)
        p.watch(key)
        seen = p.get(key)
        set_acked = "ok" in done
        p.multi()
        p.set(key, "cas-over-" + seen.decode())
        res = None
        try:
            res = p.execute()
        except Exception as e:  # WatchError: the CAS failed
            res = e
        t.join()
        self.assertTrue(done.get("ok"))
        self.assertGreater(done["took"], DELAY_MS / 2000.0,
                           "the SET was not held in flight")
        self.assertFalse(set_acked, "the window closed before the CAS")
        committed = isinstance(res, list)
        final = c.get(key)
        if committed:
            # The CAS committed after the SET took effect: it must have
            # read the SET's value, or it overwrote a write it never saw.
            self.assertEqual(seen, b"new",
                             "CAS committed over a SET it did not see")
            self.assertEqual(final, b"cas-over-new")
        else:
            self.assertEqual(final, b"new")
        return seen, committed

    def test_cached_key(self):
        self.cas_during_set("reg:cached", True)

    def test_uncached_key(self):
        self.cas_during_set("reg:uncached", False)

    def test_plain_reads_never_go_back(self):
        """Reads of a key with a write in flight may return the old or
        the new value, but once one read returned the new value no later
        read returns the old one."""
        nd = self.cl.nodes[0]
        w, r = nd.client(), nd.client()
        w.set("mono", "a")
        self.assertEqual(r.get("mono"), b"a")
        t = threading.Thread(target=lambda: w.set("mono", "b"))
        t.start()
        seen = []
        t_end = time.monotonic() + DELAY_MS / 1000.0 * 1.5
        while time.monotonic() < t_end and len(seen) < 10000:
            seen.append(r.get("mono"))
        t.join()
        seen.append(r.get("mono"))
        first_b = seen.index(b"b")
        self.assertNotIn(b"a", seen[first_b:])


if __name__ == "__main__":
    unittest.main()
