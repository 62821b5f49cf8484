package main

import (
	"math"
	"sort"
	"time"
)

// Operation kinds, named as in the contract's "by_op".
type opKind int

const (
	opRead opKind = iota
	opUpdate
	opScan
	opRmw
	opTransfer
	opLoad
	numKinds
)

var kindNames = [numKinds]string{"read", "update", "scan", "rmw", "transfer", "load"}

// cdfPoints are the 13 percentiles of "cdf_us", always all of them.
var cdfPoints = []float64{0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100}

// recorder holds one client's latency samples (nanoseconds) per kind and
// its counters; only its own goroutine touches it until the run ends. The
// samples are bounded by --ops (or --keys / --accounts for the loads).
type recorder struct {
	samples [numKinds][]int64
	errors  int64
	aborts  int64
	gaveUp  int64
	last    time.Time // completion of the client's last operation
}

func (r *recorder) add(k opKind, d time.Duration) {
	r.samples[k] = append(r.samples[k], int64(d))
	r.last = time.Now()
}

// summary is what the output needs of a sorted sample set, in microseconds.
type summary struct {
	n      int
	sorted []int64
	mean   float64
}

func summarize(s []int64) summary {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	m := 0.0
	if len(s) > 0 {
		m = sum / float64(len(s)) / 1e3
	}
	return summary{n: len(s), sorted: s, mean: m}
}

// pct is the nearest-rank percentile p (0..100) in microseconds, 0 when
// there are no samples.
func (s summary) pct(p float64) float64 {
	if s.n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(s.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > s.n {
		rank = s.n
	}
	return float64(s.sorted[rank-1]) / 1e3
}

// totals merges every client's recorder.
type totals struct {
	all    summary
	byKind [numKinds]summary
	errors int64
	aborts int64
	gaveUp int64
	last   time.Time
}

func merge(recs []*recorder) totals {
	var t totals
	var all []int64
	for k := opKind(0); k < numKinds; k++ {
		var s []int64
		for _, r := range recs {
			s = append(s, r.samples[k]...)
		}
		all = append(all, s...)
		t.byKind[k] = summarize(s)
	}
	t.all = summarize(all)
	for _, r := range recs {
		t.errors += r.errors
		t.aborts += r.aborts
		t.gaveUp += r.gaveUp
		if r.last.After(t.last) {
			t.last = r.last
		}
	}
	return t
}
