package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// config is the parsed command line (bench/workloads.md, "Command line").
type config struct {
	system    string
	addrs     []string
	workload  string
	clients   int
	threads   int
	pipeline  int
	keys      int
	accounts  int
	valueSize int
	dist      string
	zipfian   bool
	seconds   time.Duration
	ops       int64
	scanMax   int
	seed      uint64
	timeout   time.Duration
	json      bool
}

const usageText = `usage: dkv-bench-etcd --system etcd --addrs HOST:PORT[,HOST:PORT...] [options]
  --workload W     load, load-T, A, B, C, E, F or T (default A)
  --clients N      concurrent clients, one clientv3 client per 16 (default 16)
  --threads T      1 or 2, accepted and recorded (default 1)
  --pipeline P     accepted; etcd always runs one request per client (default 1)
  --keys K         records 0..K-1 (default 100000)
  --accounts N     accounts of workload T (default 1000)
  --value-size V   bytes per value (default 100)
  --dist D         uniform or zipfian (default uniform)
  --seconds S      time bound of the run (default 5)
  --ops N          bound on completed operations (default 10000000)
  --scan-max L     workload E: a scan asks for 1..L records (default 100)
  --seed N         seed of every random choice; client c uses seed + c (default 1)
  --timeout S      a request unanswered for S seconds is fatal (default 30)
  --json           print one JSON object instead of a line of text
See bench/workloads.md.
`

// usageError prints why the command line is wrong and exits 2.
func usageError(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "dkv-bench-etcd: "+format+"\n", a...)
	fmt.Fprint(os.Stderr, usageText)
	os.Exit(2)
}

var workloads = []string{"load", "load-T", "A", "B", "C", "E", "F", "T"}

// workloadName is w's canonical spelling (case does not matter), "" if w is
// no workload.
func workloadName(w string) string {
	for _, n := range workloads {
		if strings.EqualFold(w, n) {
			return n
		}
	}
	return ""
}

func parseFlags(args []string) *config {
	c := &config{}
	fs := flag.NewFlagSet("dkv-bench-etcd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var addrs string
	var seconds, timeout float64
	fs.StringVar(&c.system, "system", "", "")
	fs.StringVar(&addrs, "addrs", "", "")
	fs.StringVar(&c.workload, "workload", "A", "")
	fs.IntVar(&c.clients, "clients", 16, "")
	fs.IntVar(&c.threads, "threads", 1, "")
	fs.IntVar(&c.pipeline, "pipeline", 1, "")
	fs.IntVar(&c.keys, "keys", 100000, "")
	fs.IntVar(&c.accounts, "accounts", 1000, "")
	fs.IntVar(&c.valueSize, "value-size", 100, "")
	fs.StringVar(&c.dist, "dist", "uniform", "")
	fs.Float64Var(&seconds, "seconds", 5, "")
	fs.Int64Var(&c.ops, "ops", 10000000, "")
	fs.IntVar(&c.scanMax, "scan-max", 100, "")
	fs.Uint64Var(&c.seed, "seed", 1, "")
	fs.Float64Var(&timeout, "timeout", 30, "")
	fs.BoolVar(&c.json, "json", false, "")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Print(usageText)
			os.Exit(0)
		}
		usageError("%v", err)
	}
	if fs.NArg() > 0 {
		usageError("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.system == "":
		usageError("--system is required")
	case c.system != "etcd":
		usageError("--system %q: this driver speaks only to etcd", c.system)
	case addrs == "":
		usageError("--addrs is required")
	case workloadName(c.workload) == "":
		usageError("--workload %q: not load, load-T, A, B, C, E, F or T", c.workload)
	case c.clients < 1 || c.clients > 4096:
		usageError("--clients must be 1..4096")
	case c.threads < 1 || c.threads > 2:
		usageError("--threads must be 1 or 2")
	case c.pipeline < 1 || c.pipeline > 256:
		usageError("--pipeline must be 1..256")
	case c.keys < 1 || c.keys > 1000000000:
		usageError("--keys must be 1..1000000000")
	case c.accounts < 2 || c.accounts > 1000000:
		usageError("--accounts must be 2..1000000")
	case c.valueSize < 1 || c.valueSize > 1<<20:
		usageError("--value-size must be 1..1048576")
	case c.dist != "uniform" && c.dist != "zipfian":
		usageError("--dist %q: not uniform or zipfian", c.dist)
	case !(seconds > 0):
		usageError("--seconds must be positive")
	case c.ops < 1:
		usageError("--ops must be at least 1")
	case c.scanMax < 1 || c.scanMax > 100000:
		usageError("--scan-max must be 1..100000")
	case !(timeout > 0):
		usageError("--timeout must be positive")
	}
	for _, a := range strings.Split(addrs, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			usageError("--addrs: %q is not HOST:PORT", a)
		}
		c.addrs = append(c.addrs, a)
	}
	c.workload = workloadName(c.workload)
	c.zipfian = c.dist == "zipfian"
	c.seconds = time.Duration(seconds * float64(time.Second))
	c.timeout = time.Duration(timeout * float64(time.Second))
	return c
}
