package main

import (
	"math"
	"math/rand"
)

// YCSB's ScrambledZipfianGenerator with its default constant 0.99: a
// zipfian draw over a huge item space (10^10 + 1 items, whose zeta YCSB
// precomputes), hashed with FNV-1a 64 and taken modulo the real item
// count, so that the popular items are scattered over the key space.
const (
	zipfTheta     = 0.99
	zipfItemSpace = 10000000000 // YCSB's ITEM_COUNT
	zipfZetan     = 26.46902820178302
	fnvOffset64   = 0xCBF29CE484222325
	fnvPrime64    = 1099511628211
)

type zipfian struct {
	items     int64   // the real item count: draws are in 0..items-1
	n         float64 // items of the underlying generator (max - min + 1)
	alpha     float64
	eta       float64
	halfPowTh float64 // 1 + 0.5^theta
}

func newZipfian(items int64) *zipfian {
	n := float64(zipfItemSpace + 1)
	zeta2 := 1 + math.Pow(0.5, zipfTheta)
	return &zipfian{
		items:     items,
		n:         n,
		alpha:     1 / (1 - zipfTheta),
		eta:       (1 - math.Pow(2/n, 1-zipfTheta)) / (1 - zeta2/zipfZetan),
		halfPowTh: zeta2,
	}
}

// next draws the next item from rng's stream.
func (z *zipfian) next(rng *rand.Rand) int64 {
	u := rng.Float64()
	uz := u * zipfZetan
	var v int64
	switch {
	case uz < 1:
		v = 0
	case uz < z.halfPowTh:
		v = 1
	default:
		v = int64(z.n * math.Pow(z.eta*u-z.eta+1, z.alpha))
	}
	return fnvHash64(v) % z.items
}

// fnvHash64 is YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes of v, low
// byte first, made non-negative (Java's Math.abs; its one overflow, the
// most negative value, is taken as 0 here instead of a negative index).
func fnvHash64(v int64) int64 {
	h := uint64(fnvOffset64)
	u := uint64(v)
	for i := 0; i < 8; i++ {
		h ^= u & 0xff
		u >>= 8
		h *= fnvPrime64
	}
	s := int64(h)
	if s < 0 {
		s = -s
	}
	if s < 0 {
		return 0
	}
	return s
}
