package memstore

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
)

// Top ranks the IP groups and accounts of the events in [q.From, q.To) of
// q.Types. It reads the range twice: once to count events per group and per
// account, and once more, for the ranked entries only, to count their
// distinct accounts and sources; so it holds one counter per distinct group
// and account in the range, never a set per group. A zero From or To, or To
// before From, is an error matching secmon.ErrInvalid.
func (s *Store) Top(ctx context.Context, q secmon.TopQuery) (secmon.TopReport, error) {
	if err := ctx.Err(); err != nil {
		return secmon.TopReport{}, err
	}
	if err := checkBounds(q.From, q.To); err != nil {
		return secmon.TopReport{}, err
	}
	limit := querylimit.ClampTop(q.Limit)
	match := func(e *secmon.Event) bool { return len(q.Types) == 0 || slices.Contains(q.Types, e.Type) }
	type tally struct {
		n    int64
		last time.Time
	}
	bump := func(t *tally, at time.Time) {
		t.n++
		if at.After(t.last) {
			t.last = at
		}
	}
	groups := make(map[netip.Prefix]*tally)
	users := make(map[string]*tally)

	s.evMu.RLock()
	defer s.evMu.RUnlock()
	lo, hi := s.eventRange(q.From, q.To)
	for i := lo; i < hi; i++ {
		e := s.events.at(i)
		if !match(e) {
			continue
		}
		if g := secmon.IPGroup(e.IP); g.IsValid() {
			t := groups[g]
			if t == nil {
				t = &tally{}
				groups[g] = t
			}
			bump(t, e.Time)
		}
		if e.UserID != "" {
			t := users[e.UserID]
			if t == nil {
				t = &tally{}
				users[e.UserID] = t
			}
			bump(t, e.Time)
		}
	}

	topSources := newTopK(limit, func(a, b secmon.TopSource) int {
		if c := rankOrder(a.Events, b.Events, a.LastSeen, b.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.Group.String(), b.Group.String())
	})
	for g, t := range groups {
		topSources.add(secmon.TopSource{Group: g, Events: t.n, LastSeen: t.last})
	}
	topAccounts := newTopK(limit, func(a, b secmon.TopAccount) int {
		if c := rankOrder(a.Events, b.Events, a.LastSeen, b.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	for u, t := range users {
		topAccounts.add(secmon.TopAccount{UserID: u, Events: t.n, LastSeen: t.last})
	}
	rep := secmon.TopReport{Sources: topSources.sorted(), Accounts: topAccounts.sorted()}
	if len(rep.Sources) == 0 && len(rep.Accounts) == 0 {
		return secmon.TopReport{}, nil
	}

	// Second pass: distinct counterparts of the ranked entries only.
	srcIdx := make(map[netip.Prefix]int, len(rep.Sources))
	for i, src := range rep.Sources {
		srcIdx[src.Group] = i
	}
	accIdx := make(map[string]int, len(rep.Accounts))
	for i, a := range rep.Accounts {
		accIdx[a.UserID] = i
	}
	srcUsers := make([]map[string]struct{}, len(rep.Sources))
	accGroups := make([]map[netip.Prefix]struct{}, len(rep.Accounts))
	for i := lo; i < hi; i++ {
		e := s.events.at(i)
		if !e.IP.IsValid() && e.UserID == "" || !match(e) {
			continue
		}
		g := secmon.IPGroup(e.IP)
		if j, ok := srcIdx[g]; ok && g.IsValid() && e.UserID != "" {
			if srcUsers[j] == nil {
				srcUsers[j] = make(map[string]struct{})
			}
			srcUsers[j][e.UserID] = struct{}{}
		}
		if j, ok := accIdx[e.UserID]; ok && e.UserID != "" && g.IsValid() {
			if accGroups[j] == nil {
				accGroups[j] = make(map[netip.Prefix]struct{})
			}
			accGroups[j][g] = struct{}{}
		}
	}
	for i := range rep.Sources {
		rep.Sources[i].Accounts = int64(len(srcUsers[i]))
	}
	for i := range rep.Accounts {
		rep.Accounts[i].Sources = int64(len(accGroups[i]))
	}
	if len(rep.Sources) == 0 {
		rep.Sources = nil
	}
	if len(rep.Accounts) == 0 {
		rep.Accounts = nil
	}
	return rep, nil
}

// rankOrder orders TopReport entries: more events first, then the later
// LastSeen. Callers break the remaining ties by key, byte-wise.
func rankOrder(na, nb int64, la, lb time.Time) int {
	switch {
	case na != nb:
		if na > nb {
			return -1
		}
		return 1
	case la.After(lb):
		return -1
	case la.Before(lb):
		return 1
	}
	return 0
}
