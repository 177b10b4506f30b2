package detect

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secmon-go/secmon"
)

// MaxTrackedSources is how many IP groups an account-level rule remembers
// per account; past it, the group seen longest ago is forgotten.
const MaxTrackedSources = 32

// sourceTracker remembers, per account, which IP groups failed against it
// recently and how often, so that an account-level finding can name the
// sources to act on. Counts are per group since its failures started
// within the window: a group quiet for a whole window starts again at one.
// It is safe for concurrent use; its memory is bounded by maxKeys accounts
// of at most MaxTrackedSources groups.
type sourceTracker struct {
	once sync.Once
	t    *table[[]sourceCount]
}

type sourceCount struct {
	group string // an IP group, as Observation.Group returns it
	n     int64
	last  int64 // Unix ns of the newest failure counted
}

// record counts one failure from group against key at now (Unix ns) and
// returns the key's groups active within window, busiest first (ties: most
// recent first), at most secmon.MaxFindingSources. maxKeys (0 for
// DefaultMaxTracked) bounds the keys; the first call fixes it.
func (s *sourceTracker) record(maxKeys int, key, group string, now int64, window time.Duration) []secmon.Source {
	s.once.Do(func() { s.t = newTable[[]sourceCount](orDefault(maxKeys, DefaultMaxTracked)) })
	var out []sourceCount
	s.t.update(key, now, func(v *[]sourceCount, _ bool) bool {
		list := *v
		found := false
		oldest := -1
		for i := range list {
			c := &list[i]
			if c.group == group {
				found = true
				if now-c.last >= int64(window) {
					c.n = 0
				}
				c.n++
				c.last = max(c.last, now)
			}
			if oldest < 0 || c.last < list[oldest].last {
				oldest = i
			}
		}
		if !found {
			switch {
			case len(list) < MaxTrackedSources:
				list = append(list, sourceCount{group: group, n: 1, last: now})
			case oldest >= 0 && list[oldest].last <= now:
				list[oldest] = sourceCount{group: group, n: 1, last: now}
			}
		}
		*v = list
		for _, c := range list {
			if now-c.last < int64(window) {
				out = append(out, c)
			}
		}
		return true
	})
	slices.SortFunc(out, func(a, b sourceCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(b.last, a.last)
	})
	if len(out) > secmon.MaxFindingSources {
		out = out[:secmon.MaxFindingSources]
	}
	srcs := make([]secmon.Source, 0, len(out))
	for _, c := range out {
		if p, err := netip.ParsePrefix(c.group); err == nil {
			srcs = append(srcs, secmon.Source{Group: p, Count: c.n})
		}
	}
	return srcs
}

// sourcesEvidence renders sources as "group=count" items separated by
// commas, the form the "sources" evidence key carries.
func sourcesEvidence(srcs []secmon.Source) string {
	var b strings.Builder
	for i, s := range srcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.Group.String())
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(s.Count, 10))
	}
	return b.String()
}
