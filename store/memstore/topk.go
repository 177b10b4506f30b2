package memstore

import "slices"

// topK keeps the k first elements, in the order cmp gives, of those added,
// in O(log k) per element, so a query with a small limit over many rows
// neither copies nor sorts them all.
type topK[T any] struct {
	k   int
	cmp func(a, b T) int // < 0 when a comes before b
	h   []T              // max-heap by cmp: h[0] is the last kept element
}

func newTopK[T any](k int, cmp func(a, b T) int) *topK[T] {
	return &topK[T]{k: k, cmp: cmp, h: make([]T, 0, min(k, 64))}
}

func (t *topK[T]) add(x T) {
	if t.k <= 0 {
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if t.cmp(t.h[p], t.h[i]) >= 0 {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if t.cmp(x, t.h[0]) >= 0 {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.cmp(t.h[l], t.h[m]) > 0 {
			m = l
		}
		if r < len(t.h) && t.cmp(t.h[r], t.h[m]) > 0 {
			m = r
		}
		if m == i {
			break
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// sorted returns the kept elements in cmp order.
func (t *topK[T]) sorted() []T {
	slices.SortFunc(t.h, t.cmp)
	return t.h
}
