package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// result is a finished run, printed as bench/workloads.md's JSON object or
// as one line of text.
type result struct {
	cfg     *config
	t       totals
	seconds float64 // wall time: clients connected .. last completion
}

func (r result) opsPerSec() float64 {
	if r.seconds <= 0 {
		return 0
	}
	return float64(r.t.all.n) / r.seconds
}

// jstr is s as a JSON string.
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// us is a time in microseconds as a JSON number, to 0.1 us.
func us(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// json is the one-line JSON object; fields in the contract's order.
func (r result) json() string {
	c, t := r.cfg, r.t
	var b strings.Builder
	fmt.Fprintf(&b, `{"tool": "dkv-bench-etcd", "system": %s, "workload": %s, "dist": %s, `,
		jstr(c.system), jstr(c.workload), jstr(c.dist))
	// "pipeline" records --pipeline, as "threads" records --threads: etcd
	// always has one request in flight per client.
	fmt.Fprintf(&b, `"clients": %d, "threads": %d, "pipeline": %d, "keys": %d, "accounts": %d, "value_size": %d, `,
		c.clients, c.threads, c.pipeline, c.keys, c.accounts, c.valueSize)
	fmt.Fprintf(&b, `"seconds": %.3f, "ops": %d, "ops_per_s": %.1f, "errors": %d, "aborts": %d, "gave_up": %d, `,
		r.seconds, t.all.n, r.opsPerSec(), t.errors, t.aborts, t.gaveUp)
	a := t.all
	fmt.Fprintf(&b, `"latency_us": {"mean": %s, "p50": %s, "p95": %s, "p99": %s, "p999": %s, "max": %s}, `,
		us(a.mean), us(a.pct(50)), us(a.pct(95)), us(a.pct(99)), us(a.pct(99.9)), us(a.pct(100)))
	b.WriteString(`"cdf_us": [`)
	for i, p := range cdfPoints {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "[%s, %s]", strconv.FormatFloat(p, 'f', -1, 64), us(a.pct(p)))
	}
	b.WriteString(`], "by_op": {`)
	first := true
	for k := opKind(0); k < numKinds; k++ {
		s := t.byKind[k]
		if s.n == 0 {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, `%s: {"ops": %d, "p50": %s, "p99": %s}`,
			jstr(kindNames[k]), s.n, us(s.pct(50)), us(s.pct(99)))
	}
	fmt.Fprintf(&b, `}, "machine": {"cpus": %d, "kernel": %s}}`, runtime.NumCPU(), jstr(kernel()))
	return b.String()
}

// text is the one human line: system, workload, clients, ops/s, p50, p99,
// p99.9 (ms), errors, aborts.
func (r result) text() string {
	a := r.t.all
	return fmt.Sprintf("%-5s %-6s clients %4d  %10.1f ops/s  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %d  aborts %d",
		r.cfg.system, r.cfg.workload, r.cfg.clients, r.opsPerSec(),
		a.pct(50)/1e3, a.pct(99)/1e3, a.pct(99.9)/1e3, r.t.errors, r.t.aborts)
}

// kernel is the running kernel's release, as uname -r prints it.
func kernel() string {
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		return strings.TrimSpace(string(b))
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var s []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
