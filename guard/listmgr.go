package guard

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
)

// LoadList reads a reputation list from r (see ParseList for the formats)
// and swaps it in: a list of the same name is replaced whole, at once, and
// Check sees either the old version or the new one. cfg.Path is ignored:
// a list loaded from a reader is not reloaded (LoadList it again). It
// returns the list's stats, line errors included; a list that cannot be
// read, or that would take all lists past Config.MaxListPrefixes, is
// refused with an error and the previous version stays.
func (g *Guard) LoadList(cfg ListConfig, r io.Reader) (ListStats, error) {
	if g.closed.Load() {
		return ListStats{}, secmon.ErrClosed
	}
	if err := cfg.validate(); err != nil {
		return ListStats{}, err
	}
	cfg.Path = ""
	return g.loadList(cfg, r, "reader", fileVersion{})
}

// LoadListFile loads a list from cfg.Path now and watches the file from
// then on: it is read again whenever its size or modification time
// changes (checked every Config.ListPoll).
func (g *Guard) LoadListFile(cfg ListConfig) (ListStats, error) {
	if g.closed.Load() {
		return ListStats{}, secmon.ErrClosed
	}
	if err := cfg.validate(); err != nil {
		return ListStats{}, err
	}
	if cfg.Path == "" {
		return ListStats{}, fmt.Errorf("guard: list %s has no Path", cfg.Name)
	}
	return g.loadListFile(cfg)
}

// RemoveList takes the list name out of force. It reports whether there
// was such a list.
func (g *Guard) RemoveList(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.lists[name]
	if !ok {
		return false
	}
	delete(g.lists, name)
	g.listTotal -= len(l.prefixes)
	g.rebuildLocked()
	return true
}

// loadListFile reads cfg.Path and swaps it in. The file is checked before
// and after reading, so a file still being written is retried at the next
// poll rather than loaded half.
func (g *Guard) loadListFile(cfg ListConfig) (ListStats, error) {
	g.mu.Lock()
	if _, ok := g.lists[cfg.Name]; !ok {
		// Registered even before it loads, so the poll retries it.
		g.lists[cfg.Name] = &listState{cfg: cfg, ref: g.newListRef(cfg, time.Time{}), stats: ListStats{Name: cfg.Name, Mode: cfg.Mode, Source: cfg.Path}}
	}
	g.mu.Unlock()
	before, err := statFile(cfg.Path)
	if err != nil {
		return g.listFailed(cfg.Name, err)
	}
	f, err := os.Open(cfg.Path)
	if err != nil {
		return g.listFailed(cfg.Name, err)
	}
	defer f.Close()
	st, err := g.loadList(cfg, f, cfg.Path, before)
	if err != nil {
		return st, err
	}
	if after, err := statFile(cfg.Path); err != nil || after != before {
		// Changed while read: mark it unread so the next poll reads it.
		g.mu.Lock()
		if l := g.lists[cfg.Name]; l != nil {
			l.file = fileVersion{}
		}
		g.mu.Unlock()
	}
	return st, nil
}

// listFailed records a failed (re)load of a list file.
func (g *Guard) listFailed(name string, err error) (ListStats, error) {
	g.setErr(err)
	g.mu.Lock()
	defer g.mu.Unlock()
	// Counted under the lock, after the list's own stats, so a reader of
	// Stats that sees the failure counted sees its details too.
	defer g.st.listErrors.Add(1)
	l := g.lists[name]
	if l == nil {
		return ListStats{}, err
	}
	l.stats.ReloadErrors++
	l.stats.LastError = err.Error()
	return l.stats, err
}

func (g *Guard) newListRef(cfg ListConfig, loaded time.Time) *listRef {
	reason := cfg.Reason
	if reason == "" {
		reason = "on reputation list " + cfg.Name
	}
	return &listRef{
		name: cfg.Name, subject: "list:" + cfg.Name, by: "list:" + cfg.Name,
		reason: cleanReason(reason), loaded: loaded, block: cfg.Mode == ListBlock,
	}
}

// loadList parses r outside the lock and swaps the list in.
func (g *Guard) loadList(cfg ListConfig, r io.Reader, source string, ver fileVersion) (ListStats, error) {
	g.mu.Lock()
	budget := g.cfg.MaxListPrefixes - g.listTotal
	if l, ok := g.lists[cfg.Name]; ok {
		budget += len(l.prefixes)
	}
	g.mu.Unlock()
	prefixes, st, err := ParseList(r, ParseOptions{
		MaxPrefixes: max(budget, 1), MinBits4: g.cfg.ListMinBits4, MinBits6: g.cfg.ListMinBits6,
	})
	st.Name, st.Mode, st.Source = cfg.Name, cfg.Mode, source
	if err != nil {
		g.warn("guard: list not loaded; the previous version stays", slog.String("list", cfg.Name), slog.Any("error", err))
		return g.listFailedWith(cfg, st, err)
	}
	now := g.now()
	st.LoadedAt = now
	g.mu.Lock()
	old := g.lists[cfg.Name]
	total := g.listTotal + len(prefixes)
	if old != nil {
		total -= len(old.prefixes)
		st.ReloadErrors = old.stats.ReloadErrors
	}
	if total > g.cfg.MaxListPrefixes { // another list grew meanwhile
		g.mu.Unlock()
		return g.listFailedWith(cfg, st, fmt.Errorf("%w: all lists would hold %d prefixes, more than %d", ErrListTooLarge, total, g.cfg.MaxListPrefixes))
	}
	g.lists[cfg.Name] = &listState{cfg: cfg, ref: g.newListRef(cfg, now), prefixes: slices.Clip(prefixes), stats: st, file: ver, checked: now}
	g.listTotal = total
	g.rebuildLocked()
	g.mu.Unlock()
	g.st.listReloads.Add(1)
	if st.Invalid+st.TooBroad > 0 {
		g.warn("guard: list loaded with unusable lines", slog.String("list", cfg.Name),
			slog.Int("invalid", st.Invalid), slog.Int("too_broad", st.TooBroad))
	}
	return st, nil
}

func (g *Guard) listFailedWith(cfg ListConfig, st ListStats, err error) (ListStats, error) {
	g.setErr(err)
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.st.listErrors.Add(1)
	if l := g.lists[cfg.Name]; l != nil {
		l.stats.ReloadErrors++
		l.stats.LastError = err.Error()
		st.ReloadErrors, st.LastError = l.stats.ReloadErrors, l.stats.LastError
	}
	return st, err
}

// pollLists reloads the list files that changed since they were read.
func (g *Guard) pollLists() {
	now := g.now()
	var due []ListConfig
	g.mu.Lock()
	for _, l := range g.lists {
		if l.cfg.Path == "" || now.Sub(l.checked) < g.cfg.ListPoll {
			continue
		}
		l.checked = now
		if v, err := statFile(l.cfg.Path); err != nil || v != l.file {
			due = append(due, l.cfg)
		}
	}
	g.mu.Unlock()
	for _, cfg := range due {
		if _, err := g.loadListFile(cfg); err != nil {
			g.warn("guard: list reload failed; the previous version stays", slog.String("list", cfg.Name), slog.Any("error", err))
		}
	}
}

func sortLists(ls []ListStats) {
	slices.SortFunc(ls, func(a, b ListStats) int { return strings.Compare(a.Name, b.Name) })
}
