package memstore

import "sort"

// ring is a bounded FIFO of values kept in ascending order by the caller.
// Index 0 is the oldest element. The backing array grows by doubling up to
// max and shrinks when mostly empty, so memory follows the rows held.
type ring[T any] struct {
	buf  []T
	head int // index in buf of element 0
	n    int // elements held
	max  int // capacity bound
}

func newRing[T any](max int) ring[T] { return ring[T]{max: max} }

func (r *ring[T]) len() int { return r.n }

// at returns element i, 0 <= i < len() (or i == len() right after growing,
// for push).
func (r *ring[T]) at(i int) *T {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// push appends v as the newest element, evicting the oldest when the ring is
// full. It reports whether an element was evicted.
func (r *ring[T]) push(v T) (evicted bool) {
	if r.n == r.max {
		r.dropFront(1)
		evicted = true
	}
	if r.n == len(r.buf) {
		r.resize(min(r.max, max(64, 2*len(r.buf))))
	}
	*r.at(r.n) = v
	r.n++
	return evicted
}

// resize moves the elements, in order, into a new array of size c >= n.
func (r *ring[T]) resize(c int) {
	nb := make([]T, c)
	if r.n > 0 {
		k := copy(nb, r.buf[r.head:min(len(r.buf), r.head+r.n)])
		copy(nb[k:], r.buf[:r.n-k])
	}
	r.buf, r.head = nb, 0
}

// dropFront removes the k oldest elements.
func (r *ring[T]) dropFront(k int) {
	if k <= 0 {
		return
	}
	var zero T
	for i := range k {
		*r.at(i) = zero // release what the element references
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
	r.maybeShrink()
}

// truncate keeps the n oldest elements.
func (r *ring[T]) truncate(n int) {
	var zero T
	for i := n; i < r.n; i++ {
		*r.at(i) = zero
	}
	r.n = n
}

// search returns the smallest i in [0, len()) for which f is true, or len()
// if there is none; f must be false then true along the ring, as for
// sort.Search.
func (r *ring[T]) search(f func(*T) bool) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(r.at(m)) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// filter keeps the elements for which keep is true, in order, and returns how
// many it removed.
func (r *ring[T]) filter(keep func(*T) bool) int {
	w := 0
	for i := range r.n {
		if keep(r.at(i)) {
			if w != i {
				*r.at(w) = *r.at(i)
			}
			w++
		}
	}
	removed := r.n - w
	r.truncate(w)
	r.maybeShrink()
	return removed
}

func (r *ring[T]) maybeShrink() {
	if len(r.buf) > 1024 && r.n < len(r.buf)/4 {
		r.resize(max(64, 2*r.n))
	}
}

// insertSorted merges batch, which must be sorted by cmp and free of
// duplicates and which it may overwrite, into r, which is sorted by cmp. Elements equal (cmp == 0) to
// one already held are skipped. It returns how many elements were added and
// how many were evicted (the oldest go first, which may include elements of
// batch older than everything held when the ring is full).
func insertSorted[T any](r *ring[T], batch []T, cmp func(a, b *T) int) (added, evicted int) {
	if len(batch) == 0 {
		return 0, 0
	}
	// Skip what is already stored (in place: batch is the caller's scratch).
	// A batch newer than everything held, the usual case, needs no search.
	if r.n > 0 && cmp(&batch[0], r.at(r.n-1)) <= 0 {
		fresh := batch[:0]
		for i := range batch {
			j := r.search(func(x *T) bool { return cmp(x, &batch[i]) >= 0 })
			if j < r.n && cmp(r.at(j), &batch[i]) == 0 {
				continue
			}
			fresh = append(fresh, batch[i])
		}
		clear(batch[len(fresh):])
		batch = fresh
	}
	// When full, elements older than the oldest held would be evicted at
	// once: count them without moving anything.
	for r.n == r.max && len(batch) > 0 && r.n > 0 && cmp(&batch[0], r.at(0)) < 0 {
		batch = batch[1:]
		added++
		evicted++
	}
	if len(batch) == 0 {
		return added, evicted
	}
	p := r.search(func(x *T) bool { return cmp(x, &batch[0]) > 0 })
	var tail []T
	if p < r.n {
		tail = make([]T, r.n-p)
		for i := range tail {
			tail[i] = *r.at(p + i)
		}
		r.truncate(p)
	}
	i, j := 0, 0
	for i < len(batch) || j < len(tail) {
		var v T
		if j >= len(tail) || (i < len(batch) && cmp(&batch[i], &tail[j]) < 0) {
			v = batch[i]
			i++
			added++
		} else {
			v = tail[j]
			j++
		}
		if r.push(v) {
			evicted++
		}
	}
	return added, evicted
}

// sortBatch sorts batch by cmp and removes adjacent duplicates (cmp == 0),
// comparing through pointers so large rows are not copied per comparison.
// A batch already in order, the usual case, is only checked.
func sortBatch[T any](batch []T, cmp func(a, b *T) int) []T {
	sorted := true
	for i := 1; i < len(batch); i++ {
		if cmp(&batch[i-1], &batch[i]) > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		sort.Sort(byCmp[T]{batch, cmp})
	}
	w := 0
	for i := range batch {
		if w > 0 && cmp(&batch[w-1], &batch[i]) == 0 {
			continue
		}
		if w != i {
			batch[w] = batch[i]
		}
		w++
	}
	clear(batch[w:])
	return batch[:w]
}

type byCmp[T any] struct {
	s   []T
	cmp func(a, b *T) int
}

func (b byCmp[T]) Len() int           { return len(b.s) }
func (b byCmp[T]) Less(i, j int) bool { return b.cmp(&b.s[i], &b.s[j]) < 0 }
func (b byCmp[T]) Swap(i, j int)      { b.s[i], b.s[j] = b.s[j], b.s[i] }
