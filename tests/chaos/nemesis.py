"""Nemeses of the fault tests (tests/chaos/README.md): faults injected into
a running cluster of real dkvd processes, composable and seeded.

Every nemesis has the same calls, made from one nemesis thread:

  prepare(cl)    before the nodes start: how they run (a command prefix,
                 environment, addresses); returns a reason to skip the
                 run when this machine cannot inject the fault, else None
  start(cl)      before the workload begins (may set up the environment)
  act(rnd)       one fault and its repair, then returns; called in a loop
                 with a pause between calls until the run's time is up
  heal()         after the run: undo every fault still in force, restart
                 every node that is down, make the cluster whole again
  close()        after the nodes are gone: remove what prepare made

and counts what it did in `faults` (a dict of counters). A Composite runs
several, picking one at random per act.
"""
import os
import random
import shutil
import signal
import subprocess
import time

from cluster import (FAKETIME_LIB, faketime_arm, fiu_arm, fiu_ctrl,
                     fiu_unusable, set_skew)
EXIT_DISK_FAILURE = 3  # dkvd --help


def node_up(nd):
    return nd.proc is not None and nd.proc.poll() is None


def restart(nd, errors):
    """Starts a node that is down (and reaps one that died by itself).
    A node may die again while it recovers (a fault point hit by its own
    recovery): tried a bounded number of times."""
    for _ in range(10):
        try:
            if nd.proc is not None and nd.proc.poll() is not None:
                nd.proc = None
            nd.kill()
            nd.start()
            return True
        except TimeoutError:
            continue
    errors.append("node %d does not come back" % nd.id)
    return False


class Nemesis:
    name = "none"

    def __init__(self):
        self.faults = {}
        self.errors = []
        self.log = []  # [{t_ns, what, ...}], in order
        self.cl = None

    def count(self, what, n=1, **detail):
        """Counts a fault and logs it with the time (the clients' clock,
        time.monotonic_ns(), so it lines up with the histories)."""
        self.faults[what] = self.faults.get(what, 0) + n
        self.log.append(dict(detail, t_ns=time.monotonic_ns(), what=what))

    def prepare(self, cl):
        self.cl = cl
        return None

    def start(self, cl):
        self.cl = cl

    def act(self, rnd):
        time.sleep(0.5)

    def heal(self):
        for nd in self.cl.nodes:
            if not node_up(nd):
                restart(nd, self.errors)

    def close(self):
        pass

    def merged(self):
        return dict(self.faults), list(self.errors)


class Kill(Nemesis):
    """SIGKILL of a random node, restarted 0.2-1.5 s later."""
    name = "kill"

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        if node_up(nd):
            nd.kill()
            self.count("kill", node=nd.id)
        time.sleep(rnd.uniform(0.2, 1.5))
        if restart(nd, self.errors):
            self.count("restart")


class FaultPoints(Nemesis):
    """Nodes kill themselves at the transaction layer's injected fault
    points (DKV_TXN_FAULT: right before or after one of its durable
    writes, e.g. a leader between its record and its PREPAREs); this
    nemesis restarts whoever died."""
    name = "faultpoints"

    def __init__(self, seed, rate=0.002):
        super().__init__()
        self.spec = "submit=%g,done=%g,seed=%d" % (rate, rate, seed)

    def start(self, cl):
        super().start(cl)
        os.environ["DKV_TXN_FAULT"] = self.spec
        for nd in cl.nodes:  # restarted with the fault points armed
            nd.kill()
            restart(nd, self.errors)

    def act(self, rnd):
        time.sleep(rnd.uniform(0.3, 0.8))
        for nd in self.cl.nodes:
            if not node_up(nd):
                self.count("died at a fault point")
                if restart(nd, self.errors):
                    self.count("restart")

    def heal(self):
        os.environ.pop("DKV_TXN_FAULT", None)
        for nd in self.cl.nodes:  # disarmed
            nd.kill()
            restart(nd, self.errors)


class Pause(Nemesis):
    """SIGSTOP of a random node for 2.5-6 s (longer than the prepare
    timeout, 2 s, and often than the read timeout, 5 s), then SIGCONT: a
    node that is merely slow must not be treated as dead in a way that
    breaks atomicity."""
    name = "pause"

    def __init__(self):
        super().__init__()
        self.paused = None

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        if not node_up(nd):
            restart(nd, self.errors)
            return
        os.kill(nd.proc.pid, signal.SIGSTOP)
        self.paused = nd
        self.count("pause", node=nd.id)
        time.sleep(rnd.uniform(2.5, 6.0))
        self.resume()
        self.log.append({"t_ns": time.monotonic_ns(), "what": "resume",
                         "node": nd.id})
        time.sleep(rnd.uniform(0.5, 1.5))

    def resume(self):
        nd, self.paused = self.paused, None
        if nd is not None and node_up(nd):
            os.kill(nd.proc.pid, signal.SIGCONT)

    def heal(self):
        self.resume()
        super().heal()


class Clock(Nemesis):
    """Skews one node's wall clock (libfaketime: its offset is read from a
    file at most a second old) for 2-6 s, then sets it right. `clock`
    stays within the HLC's maximum offset (50-400 ms, ahead or behind),
    where dkv keeps every promise; `clock-beyond` (ClockBeyond) goes
    beyond it (1-4 s), where the nodes must refuse each other's epochs
    rather than corrupt data. Only CLOCK_REALTIME moves: the monotonic
    clock, which times timeouts, does not."""
    name = "clock"
    beyond_share = 0.0

    def prepare(self, cl):
        super().prepare(cl)
        if not os.path.exists(FAKETIME_LIB):
            return "libfaketime not installed"
        self.files = {}
        for nd in cl.nodes:
            f = os.path.join(cl.dir, "faketime-node%d" % nd.id)
            faketime_arm(nd, f)
            self.files[nd.id] = f
        return None

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        beyond = rnd.random() < self.beyond_share
        skew = (rnd.uniform(1.0, 4.0) if beyond else rnd.uniform(0.05, 0.4))
        skew *= rnd.choice((1, -1))
        set_skew(self.files[nd.id], skew)
        self.count("skew beyond max offset" if beyond
                   else "skew within max offset", node=nd.id, skew_s=skew)
        time.sleep(rnd.uniform(2.0, 6.0))
        set_skew(self.files[nd.id], 0.0)
        self.log.append({"t_ns": time.monotonic_ns(), "what": "skew ends",
                         "node": nd.id})
        time.sleep(1.2)  # every node reads its file again

    def heal(self):
        for f in self.files.values():
            set_skew(f, 0.0)
        time.sleep(1.2)
        super().heal()


class ClockBeyond(Clock):
    """Clock, only ever beyond the maximum offset."""
    name = "clock-beyond"
    beyond_share = 1.0


class Disk(Nemesis):
    """Makes the disk of one running node fail (libfiu's POSIX preload,
    fiu-ctrl): fsync and fdatasync, or write (which fails sockets too).
    The node must stop, exit status 3, rather than acknowledge what it did
    not persist; it is restarted on a healthy disk 0.2-1 s later. A node
    that writes nothing for 5 s gets its disk back instead. When write()
    fails, libuv may abort first: its wake-ups write to an eventfd, which
    fails too (an artefact of failing every write(), not a disk fault);
    that stop is counted apart."""
    name = "disk"
    POINTS = ("posix/io/sync/*", "posix/io/rw/write")

    def prepare(self, cl):
        super().prepare(cl)
        why = fiu_unusable()
        if why:
            return why
        self.fifo = os.path.join(cl.dir, "fiu-ctrl")
        for nd in cl.nodes:  # as fiu-run -x does, but composable
            fiu_arm(nd, self.fifo)
        return None

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        if not node_up(nd):
            restart(nd, self.errors)
            return
        point = rnd.choice(self.POINTS)
        fiu_ctrl(nd, self.fifo, "enable name=" + point, check=False)
        self.count("fsync fails" if "sync" in point else "write fails",
                   node=nd.id)
        deadline = time.time() + 5
        while time.time() < deadline and node_up(nd):
            time.sleep(0.05)
        if node_up(nd):
            fiu_ctrl(nd, self.fifo, "disable name=" + point, check=False)
            self.count("no write while failing")
            return
        rc = nd.proc.returncode
        if rc == EXIT_DISK_FAILURE:
            self.count("node stopped")
        elif rc == -signal.SIGABRT and point.endswith("write"):
            # libfiu fails every write(), also libuv's wake-ups through an
            # eventfd, which no disk failure does: libuv aborts then.
            self.count("node stopped by libuv")
        else:
            self.errors.append("node %d exited %s after its disk failed, "
                               "not %d" % (nd.id, rc, EXIT_DISK_FAILURE))
        time.sleep(rnd.uniform(0.2, 1.0))
        if restart(nd, self.errors):
            self.count("restart")


def sh(*cmd):
    subprocess.run(cmd, check=True, timeout=20, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Partition(Nemesis):
    """Places each node in a network namespace of its own, joined by veth
    pairs to a bridge in a hub namespace, which the test harness reaches
    through one more veth pair (198.18.X.0/24, a range set aside for
    tests). A fault cuts the network between nodes with iptables DROP in
    their namespaces, both ways, for 2-8 s: one node from the two others,
    or one link (two nodes cannot talk, the third talks to both). The
    clients still reach every node. Needs root (ip netns)."""
    name = "partition"

    def __init__(self):
        super().__init__()
        self.tag = "dk%05x" % random.getrandbits(20)
        self.made = []  # namespaces to delete

    def ns(self, nd):
        return "%sn%d" % (self.tag, nd.id)

    def prepare(self, cl):
        super().prepare(cl)
        if os.geteuid() != 0 or not shutil.which("ip") or \
                not shutil.which("iptables"):
            return "needs root, ip and iptables"
        t = self.tag
        net = "198.18.%d" % random.randrange(1, 255)
        hub = t + "hub"
        try:
            sh("ip", "netns", "add", hub)
            self.made.append(hub)
            sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", hub, "link", "set", "br0", "up")
            sh("ip", "link", "add", t + "r", "type", "veth", "peer", "name",
               t + "h")
            sh("ip", "link", "set", t + "h", "netns", hub)
            sh("ip", "-n", hub, "link", "set", t + "h", "master", "br0",
               "up")
            sh("ip", "addr", "add", net + ".254/24", "dev", t + "r")
            sh("ip", "link", "set", t + "r", "up")
            for nd in cl.nodes:
                ns = self.ns(nd)
                sh("ip", "netns", "add", ns)
                self.made.append(ns)
                a, b = "%sa%d" % (t, nd.id), "%sb%d" % (t, nd.id)
                sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
                sh("ip", "link", "set", a, "netns", ns)
                sh("ip", "link", "set", b, "netns", hub)
                sh("ip", "-n", hub, "link", "set", b, "master", "br0", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
                sh("ip", "-n", ns, "addr", "add",
                   "%s.%d/24" % (net, nd.id), "dev", a)
                sh("ip", "-n", ns, "link", "set", a, "up")
                nd.host = "%s.%d" % (net, nd.id)
                nd.wrap = ["ip", "netns", "exec", ns] + nd.wrap
        except (subprocess.CalledProcessError, OSError) as e:
            self.close()
            return "cannot make network namespaces: %s" % (
                getattr(e, "stderr", b"") or str(e).encode()).decode(
                    errors="replace").strip()
        # A node listens off loopback only with a password.
        cl.password = "chaos-partition"
        cl.secret = "chaos-partition-peers"
        return None

    def drop(self, a, b):
        for x, y in ((a, b), (b, a)):
            sh("ip", "netns", "exec", self.ns(x), "iptables", "-A", "INPUT",
               "-s", y.host, "-j", "DROP")
            sh("ip", "netns", "exec", self.ns(x), "iptables", "-A", "OUTPUT",
               "-d", y.host, "-j", "DROP")

    def mend(self):
        for nd in self.cl.nodes:
            try:
                sh("ip", "netns", "exec", self.ns(nd), "iptables", "-F")
            except (subprocess.CalledProcessError, OSError) as e:
                self.errors.append("cannot heal node %d: %s" % (nd.id, e))

    def act(self, rnd):
        nodes = list(self.cl.nodes)
        rnd.shuffle(nodes)
        if rnd.random() < 0.5:
            self.drop(nodes[0], nodes[1])
            self.drop(nodes[0], nodes[2])
            self.count("node isolated", node=nodes[0].id)
        else:
            self.drop(nodes[0], nodes[1])
            self.count("link cut", nodes=[nodes[0].id, nodes[1].id])
        time.sleep(rnd.uniform(2.0, 8.0))
        self.mend()
        self.log.append({"t_ns": time.monotonic_ns(), "what": "healed"})
        time.sleep(rnd.uniform(0.5, 1.5))

    def heal(self):
        self.mend()
        super().heal()

    def close(self):
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], timeout=20,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.made = []


class Composite(Nemesis):
    def __init__(self, parts):
        super().__init__()
        self.parts = parts
        self.name = "+".join(p.name for p in parts)

    def prepare(self, cl):
        super().prepare(cl)
        for p in self.parts:
            why = p.prepare(cl)
            if why:
                return "%s: %s" % (p.name, why)
        return None

    def close(self):
        for p in self.parts:
            p.close()

    def start(self, cl):
        super().start(cl)
        for p in self.parts:
            p.start(cl)

    def act(self, rnd):
        rnd.choice(self.parts).act(rnd)

    def heal(self):
        for p in reversed(self.parts):
            p.heal()

    def merged(self):
        faults, errors = {}, []
        for p in self.parts:
            for k, v in p.faults.items():
                faults[k] = faults.get(k, 0) + v
            errors += p.errors
        return faults, errors

    def merged_log(self):
        return sorted((e for p in self.parts for e in p.log),
                      key=lambda e: e["t_ns"])


def make(names, seed):
    """A nemesis from a '+'-separated list of names: none, kill,
    faultpoints, pause, clock, disk, partition."""
    table = {"none": Nemesis, "kill": Kill, "pause": Pause,
             "faultpoints": lambda: FaultPoints(seed), "clock": Clock,
             "clock-beyond": ClockBeyond,
             "disk": Disk, "partition": Partition}
    parts = []
    for n in names.split("+"):
        if n not in table:
            raise ValueError("unknown nemesis %r (known: %s)" %
                             (n, ", ".join(sorted(table))))
        parts.append(table[n]())
    return Composite(parts)
