"""Access control: clients AUTH with the node password (Redis semantics),
nodes authenticate to each other with the cluster secret, and a node
refuses to listen on a non-loopback address without a password.
"""
import os
import subprocess
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import DKVD, Cluster, wait_until  # noqa: E402


def key_on(cluster, node_id, prefix):
    c = cluster.nodes[0].client()
    for i in range(10000):
        k = "%s%d" % (prefix, i)
        if c.execute_command("DKV.SHARDOF", k)[1] == node_id:
            return k
    raise AssertionError("no key found")


class AuthTest(unittest.TestCase):
    def test_clients_must_auth_and_nodes_use_the_secret(self):
        with Cluster(n=2, password="pw-client", secret="s3cret") as cl:
            anon = redis.Redis(port=cl.nodes[0].port, socket_timeout=5)
            with self.assertRaises(redis.AuthenticationError):
                anon.get("x")
            self.assertTrue(anon.ping())  # PING is allowed, as in Redis
            with self.assertRaises((redis.AuthenticationError,
                                    redis.ResponseError)):
                redis.Redis(port=cl.nodes[0].port,
                            password="wrong").get("x")
            c = cl.nodes[0].client()
            k = key_on(cl, cl.nodes[1].id, "remote")
            wait_until(lambda: c.set(k, "v"), what="peer link")
            self.assertEqual(c.get(k), b"v")  # forwarded with the secret
            # The cluster secret is not a client password.
            with self.assertRaises((redis.AuthenticationError,
                                    redis.ResponseError)):
                redis.Redis(port=cl.nodes[0].port, password="s3cret").get(k)
            anon2 = redis.Redis(port=cl.nodes[1].port)
            self.assertEqual(anon2.execute_command("DKV.PEER", "s3cret"),
                             b"OK")
            self.assertEqual(anon2.get(k), b"v")

    def test_a_wrong_secret_keeps_a_node_out(self):
        with Cluster(n=2, password="pw", secret="right",
                     secrets={2: "wrong"}) as cl:
            c = cl.nodes[0].client()
            k = key_on(cl, cl.nodes[1].id, "x")
            cl.nodes[1].client().set(k, "only-on-2")
            for _ in range(20):  # node 2 refuses node 1's secret
                with self.assertRaises(redis.ResponseError) as e:
                    c.get(k)
                self.assertRegex(str(e.exception), "^(TRYAGAIN|NOAUTH)")
            self.assertEqual(cl.nodes[1].client().get(k), b"only-on-2")

    def test_public_address_needs_a_password(self):
        r = subprocess.run([DKVD, "--node-listen", "0.0.0.0:7999",
                            "--check-config"], capture_output=True,
                           text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("password", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
