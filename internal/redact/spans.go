package redact

import "net/netip"

// MaxSpans is how many redacted ranges a Spans tracks; past it, everything
// from the first range that did not fit to the end of the value is
// redacted.
const MaxSpans = 32

// Span is a range of a value to replace: by the redaction marker, or by
// Repl when that is a valid address (a masked address found in the value).
type Span struct {
	Start, End int
	Repl       netip.Addr
}

// Spans collects the ranges to replace in one value. The zero value is
// not ready: call Reset first.
type Spans struct {
	list [MaxSpans]Span
	n    int
	// from, when >= 0, redacts everything from that offset on (set when
	// the list overflows).
	from int
}

// Reset empties sp.
func (sp *Spans) Reset() { sp.n, sp.from = 0, -1 }

// Add records s[start:end] for redaction.
func (sp *Spans) Add(start, end int) {
	if start >= end {
		return
	}
	if sp.from >= 0 && start >= sp.from {
		return
	}
	// A range inside the last one adds nothing (scanners often find the
	// same secret twice).
	if sp.n > 0 {
		if l := sp.list[sp.n-1]; !l.Repl.IsValid() && l.Start <= start && end <= l.End {
			return
		}
	}
	if sp.n == MaxSpans {
		if sp.from < 0 || start < sp.from {
			sp.from = start
		}
		return
	}
	sp.list[sp.n] = Span{Start: start, End: end}
	sp.n++
}

// AddRepl records s[start:end] to be replaced by repl.
func (sp *Spans) AddRepl(start, end int, repl netip.Addr) {
	n := sp.n
	sp.Add(start, end)
	if sp.n > n {
		sp.list[n].Repl = repl
	}
}

// Done reports whether everything from offset i on is already redacted
// (the list overflowed before it), so scanners can stop.
func (sp *Spans) Done(i int) bool { return sp.from >= 0 && i >= sp.from }

// Empty reports whether nothing is to be replaced.
func (sp *Spans) Empty() bool { return sp.n == 0 && sp.from < 0 }

// From returns the offset from which everything is redacted, or -1.
func (sp *Spans) From() int { return sp.from }

// Sorted returns the ranges ordered by start.
func (sp *Spans) Sorted() []Span {
	l := sp.list[:sp.n]
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Start < l[j-1].Start; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
	return l
}

// covered reports whether s[start:end] lies inside a recorded range.
func (sp *Spans) covered(start, end int) bool {
	if sp.from >= 0 && start >= sp.from {
		return true
	}
	for _, l := range sp.list[:sp.n] {
		if l.Start <= start && end <= l.End {
			return true
		}
	}
	return false
}
