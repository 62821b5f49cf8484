"""Three real nodes: routing, durability across SIGKILL, ranges, bad input.

Run: /usr/bin/python3 tests/integration/test_cluster.py (DKVD names the
binary; default build/bin/dkvd).
"""
import os
import random
import socket
import sys
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, wait_until  # noqa: E402


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(n=3, shards=8).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def node(self, i):
        return self.cluster.nodes[i]

    def test_every_key_readable_from_every_node(self):
        keys = {b"k%d" % i: os.urandom(random.randint(0, 64))
                for i in range(200)}
        writers = [self.node(i).client() for i in range(3)]
        for i, (k, v) in enumerate(keys.items()):
            self.assertTrue(writers[i % 3].set(k, v))
        for i in range(3):
            c = self.node(i).client()
            for k, v in keys.items():
                self.assertEqual(c.get(k), v, "node %d key %r" % (i + 1, k))
        # The owner of each key is the same from every node.
        for k in list(keys)[:20]:
            owners = {tuple(self.node(i).client().execute_command(
                "DKV.SHARDOF", k)[:3]) for i in range(3)}
            self.assertEqual(len(owners), 1)

    def test_writes_survive_sigkill_of_their_owner(self):
        c = self.node(0).client()
        acked = {}
        for i in range(300):
            k, v = b"durable:%d" % i, b"v%d" % i
            self.assertTrue(c.set(k, v))
            acked[k] = v
        for nd in self.cluster.nodes[1:]:
            nd.kill()
            nd.start()
        # Through the gateway and from each owner again.
        for i in range(3):
            cl = self.node(i).client()
            wait_until(lambda: cl.get(b"durable:0") == b"v0", timeout=10,
                       what="peers reconnected")
            for k, v in acked.items():
                self.assertEqual(cl.get(k), v)

    def test_multi_key_commands_span_nodes(self):
        c = self.node(1).client()
        keys = [b"m%d" % i for i in range(40)]
        owners = {c.execute_command("DKV.SHARDOF", k)[1] for k in keys}
        self.assertEqual(len(owners), 3)  # the keys span every node
        for k in keys[::2]:
            c.set(k, k + b"!")
        want = [k + b"!" if i % 2 == 0 else None
                for i, k in enumerate(keys)]
        for i in range(3):
            self.assertEqual(self.node(i).client().mget(keys), want)
        self.assertEqual(c.exists(*keys), 20)
        self.assertEqual(c.exists(*(keys + keys)), 40)
        # Pipelined: each command sees the ones before it.
        p = c.pipeline(transaction=False)
        p.set(keys[1], b"late")
        p.mget(keys)
        p.delete(*keys)
        p.exists(*keys)
        out = p.execute()
        self.assertEqual(out[1][1], b"late")
        self.assertEqual(out[2], 21)
        self.assertEqual(out[3], 0)

    def test_routing_clients_get_redirects_naming_owner_and_version(self):
        cl = self.cluster
        key = b"routed-key"
        shard, owner = cl.nodes[0].client().execute_command(
            "DKV.SHARDOF", key)[:2]
        other = [nd for nd in cl.nodes if nd.id != owner][0]
        c = other.client()
        c.set(key, b"v")  # a plain client is forwarded
        self.assertEqual(c.execute_command("DKV.ROUTED", cl.version), b"OK")
        with self.assertRaises(redis.ResponseError) as e:
            c.get(key)
        addr = [nd.addr for nd in cl.nodes if nd.id == owner][0]
        self.assertEqual(str(e.exception),
                         "MOVED %d %s %d" % (shard, addr, cl.version))
        # At the owner with the current version: served.
        oc = [nd for nd in cl.nodes if nd.id == owner][0].client()
        oc.execute_command("DKV.ROUTED", cl.version)
        self.assertEqual(oc.get(key), b"v")
        # A stale version is redirected even at the owner; a version the
        # node has not seen yet asks the client to try again.
        oc.execute_command("DKV.ROUTED", cl.version - 1 or 1)
        if cl.version > 1:
            with self.assertRaises(redis.ResponseError):
                oc.get(key)
        oc.execute_command("DKV.ROUTED", cl.version + 5)
        with self.assertRaises(redis.ResponseError) as e:
            oc.get(key)
        self.assertTrue(str(e.exception).startswith("TRYAGAIN"))
        # 0: back to forwarding.
        c.execute_command("DKV.ROUTED", 0)
        self.assertEqual(c.get(key), b"v")

    def test_info_reports_node_shards_epochs_counts_and_latencies(self):
        c = self.node(0).client()
        key = next(k for k in ("info-key-%d" % i for i in range(1000))
                   if c.execute_command("DKV.SHARDOF", k)[1] == 1)
        c.set(key, "v")  # served by node 1 itself, so timed there
        c.get(key)
        info = c.info("all")
        self.assertEqual(info["node_id"], 1)
        self.assertEqual(info["shards_total"], 8)
        self.assertGreater(info["epoch_last"], 0)
        self.assertGreaterEqual(info["cmdstat_get"]["calls"], 1)
        self.assertIn("p50", info["latency_percentiles_usec_get"])
        self.assertIn("p99", info["latency_percentiles_usec_get"])

    def test_counters_are_exact_through_any_node(self):
        clients = [self.node(i).client() for i in range(3)]
        for i in range(90):
            clients[i % 3].incr("ctr")
        self.assertEqual(clients[1].get("ctr"), b"90")

    def test_range_within_a_tag_resumes_exactly(self):
        c = self.node(0).client()
        keys = [b"{user7}:item:%03d" % i for i in range(57)]
        for k in keys:
            c.set(k, k[::-1])
        got, cursor, pages = [], None, 0
        while True:
            args = ["DKV.RANGE", "{user7}:item:", "{user7}:item;", "LIMIT", 10]
            if cursor:
                args += ["CURSOR", cursor]
            cursor, items = self.node(pages % 3).client().execute_command(
                *args)
            got += items[0::2]
            pages += 1
            if cursor == b"":
                break
        self.assertEqual(got, keys)
        self.assertEqual(pages, 6)
        cursor, items = c.execute_command(
            "DKV.RANGE", "{user7}:item:", "{user7}:item;", "LIMIT", 5, "REV")
        self.assertEqual(items[0::2], keys[::-1][:5])
        with self.assertRaises(redis.ResponseError) as e:
            c.execute_command("DKV.RANGE", "a", "z")
        self.assertIn("confined to one shard", str(e.exception))

    def test_garbage_does_not_hurt_other_clients(self):
        good = self.node(0).client()
        good.set("stable", "yes")
        bad_inputs = [b"*-5\r\n", b"*2\r\n$-7\r\n", b"*1\r\n$99999999999\r\n",
                      b"$5\r\nhello\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk",
                      b"\x00\xff\xfe garbage \r\n", b"*1\r\n$4\r\nPING",
                      b'SET "unbalanced\r\n', b"*9999999999999999999\r\n"]
        for data in bad_inputs:
            s = socket.create_connection(("127.0.0.1", self.node(0).port),
                                         timeout=5)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)
            except socket.timeout:
                pass
            s.close()
            self.assertEqual(good.get("stable"), b"yes")
        # A half-written command followed by its end is fine.
        s = socket.create_connection(("127.0.0.1", self.node(0).port))
        s.sendall(b"*2\r\n$3\r\nGET\r\n$6\r\nsta")
        time.sleep(0.1)
        s.sendall(b"ble\r\n")
        self.assertEqual(s.recv(100), b"$3\r\nyes\r\n")
        s.close()

    def test_pipeline_keeps_order_across_nodes(self):
        c = self.node(2).client()
        p = c.pipeline(transaction=False)
        for i in range(200):
            p.set(b"p%d" % i, b"%d" % i)
            p.get(b"p%d" % i)
            p.incr(b"pc")
        out = p.execute()
        for i in range(200):
            self.assertEqual(out[3 * i], True)
            self.assertEqual(out[3 * i + 1], b"%d" % i)
            self.assertEqual(out[3 * i + 2], i + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
