"""Snapshots through the dkv tool, end to end (docs/snap.md, docs/cli.md).

A three-node cluster (hash, 8 shards): keys written, snapshot A created
with `dkv snapshot create`, keys modified, removed and added, snapshot B;
then `dkv get --at` and `dkv range --at` read the old state, `dkv snapshot
diff A B --output json` must list exactly the changes made, and `dkv
snapshot export A` writes files whose manifest counts what A held. A
second cluster with another shard count and family (slots, 5 shards)
refuses a tampered or truncated copy of the export without writing
anything, then imports the real one; every key and value of A must be
there, and nothing else. Error paths: duplicate and bad names, a missing
snapshot, a non-empty export directory, a non-empty import target.

Run: /usr/bin/python3 tests/integration/test_snapshot_cli.py (DKVD and DKV
name the binaries; default build/bin/dkvd and build/bin/dkv). Every
process it starts is stopped by its PID at the end (cluster.py).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, wait_until  # noqa: E402

DKV = os.environ.get("DKV", os.path.join(os.path.dirname(__file__),
                                          "../../build/bin/dkv"))
CMD_TIMEOUT = 120


def start_cluster(**kw):
    """A started Cluster whose nodes all serve on their own ports: a port
    found free may be taken by another test's process before a node binds
    it (ctest runs tests in parallel); then the node exits and the whole
    cluster is tried again on other ports (bounded)."""
    last = None
    for _ in range(5):
        cl = Cluster(**kw)
        try:
            cl.__enter__()
        except (TimeoutError, AssertionError, OSError) as e:
            last = e
            continue
        ok = True
        for nd in cl.nodes:
            log = os.path.join(nd.dir, "dkvd.log")
            with open(log, "rb") as f:
                served = (b"serving on " + nd.addr.encode()) in f.read()
            if nd.proc is None or nd.proc.poll() is not None or not served:
                ok = False
        if ok:
            return cl
        cl.close()
    raise RuntimeError("could not start a cluster: %r" % (last,))


def dkv(cluster, *args, check=True, want_rc=None):
    """Runs the tool against the cluster's first node: (rc, stdout,
    stderr), stdout as bytes."""
    p = subprocess.run([DKV, "-h", cluster.nodes[0].addr] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
    if want_rc is not None and p.returncode != want_rc:
        raise AssertionError("dkv %s exited %d, expected %d\nstdout: %r\n"
                             "stderr: %s" % (" ".join(args), p.returncode,
                                             want_rc, p.stdout[:2000],
                                             p.stderr.decode(errors="replace")))
    if check and want_rc is None and p.returncode != 0:
        raise AssertionError("dkv %s exited %d\nstderr: %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def json_key(obj):
    if "key" in obj:
        return obj["key"].encode()
    return bytes.fromhex(obj["key_hex"])


class SnapshotCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dkv-snapcli-")
        cls.src = start_cluster(n=3, shards=8, family="hash")
        cls.dst = None
        try:
            # Every node answers DKV.SNAPSHOT (the leader is node 1).
            wait_until(lambda: cls.src.nodes[2].client().execute_command(
                "DKV.SNAPSHOT", "LIST") is not None, timeout=20,
                what="DKV.SNAPSHOT on every node")
            cls.dst = start_cluster(n=2, shards=5, family="slots")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for cl in (cls.src, cls.dst):
            if cl is not None:
                cl.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_snapshot_flow(self):
        src, dst = self.src, self.dst
        r = src.nodes[1].client()  # writes through a non-leader node

        # --- the state of A -------------------------------------------
        state = {}
        for i in range(600):
            state[b"key:%04d" % i] = b"value-%d-" % i + os.urandom(i % 40)
        for i in range(30):  # a hash tag, for range --at
            state[b"{user7}.f%02d" % i] = b"u%d" % i
        state[b"bin\x00\xff\tkey"] = b"\x00\x01\x02 binary \xfe"
        state[b"empty-value"] = b""
        state[b"line\nbreak"] = b"multi\nline"
        pipe = r.pipeline(transaction=False)
        for k, v in state.items():
            pipe.set(k, v)
        self.assertTrue(all(pipe.execute()))
        a_state = dict(state)

        rc, out, _ = dkv(src, "-o", "json", "snapshot", "create", "A")
        info_a = json.loads(out)
        self.assertEqual(info_a["name"], "A")
        self.assertGreater(info_a["epoch"], 0)

        # --- changes between A and B -------------------------------------
        added = {b"new:%d" % i: b"n%d" % i for i in range(25)}
        added[b"new\xc3(bad-utf8"] = b"x"
        modified = {b"key:%04d" % i: b"modified-%d" % i
                    for i in range(0, 600, 7)}
        modified[b"{user7}.f03"] = b"changed"
        modified[b"bin\x00\xff\tkey"] = b"other binary \x00"
        removed = [b"key:%04d" % i for i in range(3, 600, 11)
                   if b"key:%04d" % i not in modified]
        removed += [b"{user7}.f05", b"line\nbreak"]
        # A key rewritten with the same value is no change.
        same = b"key:0001"
        pipe = r.pipeline(transaction=False)
        for k, v in list(added.items()) + list(modified.items()):
            pipe.set(k, v)
        pipe.set(same, state[same])
        for k in removed:
            pipe.delete(k)
        pipe.execute()
        for k, v in list(added.items()) + list(modified.items()):
            state[k] = v
        for k in removed:
            del state[k]
        b_state = dict(state)

        dkv(src, "snapshot", "create", "B")
        # Changes after B are in neither.
        r.set(b"after:b", b"1")
        r.set(b"key:0002", b"after-b")

        # --- list, show -------------------------------------------------
        rc, out, _ = dkv(src, "-o", "json", "snapshot", "list")
        snaps = json.loads(out)
        self.assertEqual([s["name"] for s in snaps], ["A", "B"])
        self.assertLess(snaps[0]["epoch"], snaps[1]["epoch"])
        rc, out, _ = dkv(src, "snapshot", "show", "B", "--output", "json")
        info_b = json.loads(out)
        self.assertEqual(info_b["epoch"], snaps[1]["epoch"])
        rc, out, _ = dkv(src, "-o", "raw", "snapshot", "show", "A")
        self.assertEqual(out.split(b"\n")[:2],
                         [b"A", str(info_a["epoch"]).encode()])

        # --- reads at a snapshot ----------------------------------------
        rc, out, _ = dkv(src, "-o", "raw", "get", "--at", "A", "key:0000")
        self.assertEqual(out, a_state[b"key:0000"] + b"\n")
        rc, out, _ = dkv(src, "-o", "raw", "get", "key:0000")
        self.assertEqual(out, b"modified-0\n")
        rc, out, _ = dkv(src, "-o", "raw", "get", "key:0002", "--at", "B")
        self.assertEqual(out, a_state[b"key:0002"] + b"\n")
        rc, out, _ = dkv(src, "-o", "raw", "get", "--at",
                         str(info_a["epoch"]), "{user7}.f03")
        self.assertEqual(out, b"u3\n")
        gone = removed[0].decode()
        dkv(src, "-o", "raw", "get", "--at", "A", gone)
        dkv(src, "get", "--at", "B", gone, want_rc=1)
        dkv(src, "get", "--at", "A", "new:1", want_rc=1)
        rc, _, err = dkv(src, "get", "--at", "nosuch", "k", want_rc=1)
        self.assertIn("no snapshot 'nosuch'", err)
        rc, out, _ = dkv(src, "-o", "json", "range", "--at", "A", "--all",
                         "{user7}", "{user7}~")
        got = {json_key(o): o["value"].encode() for o in json.loads(out)}
        self.assertEqual(got, {k: v for k, v in a_state.items()
                               if k.startswith(b"{user7}")})
        rc, out, _ = dkv(src, "-o", "json", "range", "--at", "B", "--all",
                         "{user7}", "{user7}~")
        got = {json_key(o): o["value"].encode() for o in json.loads(out)}
        self.assertEqual(got, {k: v for k, v in b_state.items()
                               if k.startswith(b"{user7}")})

        # --- diff A B: exactly the changes --------------------------------
        rc, out, _ = dkv(src, "snapshot", "diff", "A", "B", "--output",
                         "json")
        lines = [json.loads(x) for x in out.decode().splitlines()]
        summary = lines[-1]
        entries = lines[:-1]
        self.assertTrue(all("op" in e for e in entries))
        got = {(e["op"], json_key(e)) for e in entries}
        self.assertEqual(len(got), len(entries), "a key listed twice")
        want = {("+", k) for k in added} | {("-", k) for k in removed}
        want |= {("~", k) for k in modified}
        self.assertEqual(got, want)
        for e in entries:
            self.assertEqual(e["change"], {"+": "added", "-": "removed",
                                           "~": "changed"}[e["op"]])
        self.assertEqual(summary["summary"]["added"], len(added))
        self.assertEqual(summary["summary"]["removed"], len(removed))
        self.assertEqual(summary["summary"]["changed"], len(modified))
        self.assertEqual(summary["summary"]["unchanged"],
                         len(a_state) - len(removed) - len(modified))
        self.assertEqual(summary["a"]["epoch"], info_a["epoch"])
        # The other way round, and in text: '+' and '-' swap.
        rc, out, _ = dkv(src, "-o", "plain", "snapshot", "diff", "B", "A")
        text = out.decode().splitlines()
        self.assertIn("- new:0", text)
        self.assertIn("+ " + gone, text)
        self.assertIn("~ key:0000", text)
        self.assertIn("+ line\\nbreak", text)  # escaped for a terminal
        self.assertEqual(text[-1], "%d added, %d removed, %d changed, "
                         "%d unchanged" % (len(removed), len(added),
                                           len(modified),
                                           summary["summary"]["unchanged"]))
        # A snapshot against itself: nothing.
        rc, out, _ = dkv(src, "-o", "json", "snapshot", "diff", "A", "A")
        self.assertEqual(len(out.decode().splitlines()), 1)

        # --- export A ---------------------------------------------------
        exp = os.path.join(self.tmp, "exportA")
        rc, out, _ = dkv(src, "-o", "json", "snapshot", "export", "A", exp,
                         "--page", "50")
        self.assertEqual(json.loads(out)["keys"], len(a_state))
        with open(os.path.join(exp, "manifest.json")) as f:
            man = json.load(f)
        self.assertEqual(man["snapshot"], "A")
        self.assertEqual(man["epoch"], info_a["epoch"])
        self.assertEqual(man["shards"], 8)
        self.assertEqual(man["sharding"]["kind"], "hash")
        self.assertEqual(man["keys"], len(a_state))
        self.assertEqual(sum(f["keys"] for f in man["files"]), len(a_state))
        self.assertEqual(sorted(os.listdir(exp)),
                         sorted(["manifest.json"] +
                                ["shard-%d.dkvs" % i for i in range(8)]))
        for fe in man["files"]:
            self.assertEqual(os.path.getsize(os.path.join(exp, fe["file"])),
                             fe["bytes"])
        # Never into a directory that holds something.
        rc, _, err = dkv(src, "snapshot", "export", "A", exp, want_rc=3)
        self.assertIn("not empty", err)

        # --- import: damaged copies are refused, nothing written ----------
        biggest = max(man["files"], key=lambda f: f["keys"])
        bad = os.path.join(self.tmp, "tampered")
        shutil.copytree(exp, bad)
        path = os.path.join(bad, biggest["file"])
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            # The first byte of the first key (after the 32-byte header
            # and its length): lengths untouched, the checksum differs.
            data[36] ^= 0x01
            f.seek(0)
            f.write(data)
        rc, _, err = dkv(dst, "snapshot", "import", bad, want_rc=3)
        self.assertIn("checksum", err)
        self.assertIn("nothing was written", err)
        trunc = os.path.join(self.tmp, "truncated")
        shutil.copytree(exp, trunc)
        with open(os.path.join(trunc, biggest["file"]), "r+b") as f:
            f.truncate(biggest["bytes"] - 40)
        rc, _, err = dkv(dst, "snapshot", "import", trunc, want_rc=3)
        self.assertIn("size", err)
        lying = os.path.join(self.tmp, "lying")
        shutil.copytree(exp, lying)
        with open(os.path.join(lying, "manifest.json"), "w") as f:
            man2 = json.loads(json.dumps(man))
            man2["files"][0]["file"] = "../exportA/shard-0.dkvs"
            json.dump(man2, f)
        dkv(dst, "snapshot", "import", lying, want_rc=3)
        rdst = dst.nodes[0].client()
        self.assertIsNone(rdst.get(b"key:0000"))

        # --- import into another shard count and family ------------------
        rc, out, err = dkv(dst, "-o", "json", "snapshot", "import", exp,
                           "--threads", "4")
        res = json.loads(out)
        self.assertEqual(res["keys"], len(a_state))
        self.assertGreater(res["keys_per_s"], 0)
        pipe = rdst.pipeline(transaction=False)
        keys = list(a_state)
        for k in keys:
            pipe.get(k)
        vals = pipe.execute()
        for k, v in zip(keys, vals):
            self.assertEqual(v, a_state[k], "key %r" % k)
        # Nothing else: an export of the target holds exactly A's keys.
        rc, out, _ = dkv(dst, "-o", "json", "snapshot", "create", "copy")
        exp2 = os.path.join(self.tmp, "exportCopy")
        rc, out, _ = dkv(dst, "-o", "json", "snapshot", "export", "copy",
                         exp2)
        self.assertEqual(json.loads(out)["keys"], len(a_state))
        with open(os.path.join(exp2, "manifest.json")) as f:
            self.assertEqual(json.load(f)["sharding"]["kind"], "slots")
        # An import never loads into a cluster that holds keys.
        rc, _, err = dkv(dst, "snapshot", "import", exp, want_rc=3)
        self.assertIn("not empty", err)

        # --- names, destroy ---------------------------------------------
        rc, _, err = dkv(src, "snapshot", "create", "A", want_rc=3)
        self.assertIn("exists", err)
        dkv(src, "snapshot", "create", "1bad", want_rc=3)
        dkv(src, "snapshot", "show", "nosuch", want_rc=1)
        dkv(src, "snapshot", "destroy", "nosuch", want_rc=1)
        rc, out, _ = dkv(src, "-o", "json", "snapshot", "create")
        self.assertTrue(json.loads(out)["name"].startswith("snap-"))
        dkv(src, "snapshot", "destroy", "A")
        dkv(src, "snapshot", "show", "A", want_rc=1)
        dkv(src, "get", "--at", "A", "key:0000", want_rc=1)
        rc, out, _ = dkv(src, "-o", "json", "snapshot", "list")
        self.assertNotIn("A", [s["name"] for s in json.loads(out)])
        # B still reads as it was.
        rc, out, _ = dkv(src, "-o", "raw", "get", "--at", "B", "key:0000")
        self.assertEqual(out, b"modified-0\n")

    def test_usage(self):
        for args in (["snapshot"], ["snapshot", "bogus"],
                     ["snapshot", "show"], ["snapshot", "diff", "A"],
                     ["snapshot", "export", "A"],
                     ["snapshot", "import", "--threads", "0", "x"],
                     ["get", "--at"], ["snapshot", "list", "-o", "yaml"]):
            dkv(self.src, *args, want_rc=2)
        for sub in ("create", "list", "show", "destroy", "export", "import",
                    "diff"):
            rc, out, _ = dkv(self.src, "snapshot", sub, "--help")
            self.assertTrue(out.startswith(b"Usage: dkv snapshot " +
                                           sub.encode()))
        # An import of something that is no export.
        rc, _, err = dkv(self.dst or self.src, "snapshot", "import",
                         self.tmp, want_rc=3)
        self.assertIn("manifest.json", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
