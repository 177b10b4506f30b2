package memstore

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRingMatchesReference drives a ring with random batches, purges and
// filters and checks it against a plain sorted slice that keeps the newest
// max elements.
func TestRingMatchesReference(t *testing.T) {
	t.Parallel()
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		maxN := 1 + rng.IntN(300)
		r := newRing[int](maxN)
		var ref []int
		evictedRef, evictedGot := 0, 0
		for step := range 300 {
			switch op := rng.IntN(10); {
			case op < 7: // insert a batch, mostly newer values
				n := rng.IntN(40)
				hi := 0
				if len(ref) > 0 {
					hi = ref[len(ref)-1]
				}
				batch := make([]int, n)
				for i := range batch {
					batch[i] = hi - 50 + rng.IntN(120)
				}
				slices.Sort(batch)
				batch = slices.Compact(batch)
				_, ev := insertSorted(&r, slices.Clone(batch), func(a, b *int) int { return cmp.Compare(*a, *b) })
				evictedGot += ev
				ref = append(ref, batch...)
				slices.Sort(ref)
				ref = slices.Compact(ref)
				if over := len(ref) - maxN; over > 0 {
					ref = ref[over:]
					evictedRef += over
				}
			case op < 8: // purge a prefix
				if len(ref) == 0 {
					continue
				}
				cut := ref[rng.IntN(len(ref))]
				k := r.search(func(x *int) bool { return *x >= cut })
				r.dropFront(k)
				i, _ := slices.BinarySearch(ref, cut)
				ref = ref[i:]
			default: // drop odd values
				r.filter(func(x *int) bool { return *x%2 == 0 })
				ref = slices.DeleteFunc(ref, func(x int) bool { return x%2 != 0 })
			}
			got := make([]int, r.len())
			for i := range got {
				got[i] = *r.at(i)
			}
			if !slices.Equal(got, ref) {
				t.Fatalf("seed %d step %d (max %d): ring = %v\nwant %v", seed, step, maxN, got, ref)
			}
			if evictedGot != evictedRef {
				t.Fatalf("seed %d step %d: evicted %d, want %d", seed, step, evictedGot, evictedRef)
			}
			if len(r.buf) > maxN {
				t.Fatalf("seed %d step %d: buffer of %d exceeds max %d", seed, step, len(r.buf), maxN)
			}
		}
	}
}

func TestRingShrinks(t *testing.T) {
	t.Parallel()
	r := newRing[int](1 << 16)
	for i := range 1 << 16 {
		r.push(i)
	}
	r.dropFront(1<<16 - 10)
	if len(r.buf) > 1024 {
		t.Errorf("after dropping almost everything the buffer holds %d slots", len(r.buf))
	}
	for i := range 10 {
		if got := *r.at(i); got != 1<<16-10+i {
			t.Fatalf("element %d = %d after shrinking", i, got)
		}
	}
}

func TestTopKMatchesSort(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n, k := rng.IntN(300), rng.IntN(50)
		all := make([]int, n)
		for i := range all {
			all[i] = rng.IntN(100)
		}
		top := newTopK(k, func(a, b int) int { return cmp.Compare(b, a) }) // largest first
		for _, v := range all {
			top.add(v)
		}
		want := slices.Clone(all)
		slices.SortFunc(want, func(a, b int) int { return cmp.Compare(b, a) })
		want = want[:min(k, n)]
		if got := top.sorted(); !slices.Equal(got, want) {
			t.Fatalf("n %d k %d: got %v, want %v", n, k, got, want)
		}
	}
}
