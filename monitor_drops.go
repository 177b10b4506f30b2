package secmon

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// KeyCount is a metadata key name and how often something happened to it.
type KeyCount struct {
	Key   string
	Count uint64
}

// maxTrackedKeys bounds the key names a Monitor counts by name for each of
// Stats.DroppedKeys and Stats.TruncatedKeys; further names are counted
// under OtherKeys.
const maxTrackedKeys = 32

// OtherKeys names, in Stats.DroppedKeys and Stats.TruncatedKeys, the keys
// seen after maxTrackedKeys others were already counted by name.
const OtherKeys = "(other)"

// keyCounter counts events per key name, for a bounded set of names. A
// known name costs one atomic add and no lock; a new one takes the lock
// and copies the (small) map, and is reported once through first.
type keyCounter struct {
	names atomic.Pointer[map[string]*atomic.Uint64]
	mu    sync.Mutex
	other atomic.Uint64
	total atomic.Uint64
}

// add counts one event for name and reports whether the name was new.
func (c *keyCounter) add(name string) bool {
	c.total.Add(1)
	if m := c.names.Load(); m != nil {
		if n, ok := (*m)[name]; ok {
			n.Add(1)
			return false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.names.Load()
	if old != nil {
		if n, ok := (*old)[name]; ok {
			n.Add(1)
			return false
		}
		if len(*old) >= maxTrackedKeys {
			c.other.Add(1)
			return false
		}
	}
	m := make(map[string]*atomic.Uint64, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	n := new(atomic.Uint64)
	n.Store(1)
	m[name] = n
	c.names.Store(&m)
	return true
}

// addOther counts n events under OtherKeys.
func (c *keyCounter) addOther(n int) {
	c.total.Add(uint64(n))
	c.other.Add(uint64(n))
}

func lenMap(m *map[string]*atomic.Uint64) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// top returns the counts, largest first (ties by name), with OtherKeys
// last when some names were not tracked.
func (c *keyCounter) top() []KeyCount {
	m := c.names.Load()
	if m == nil {
		return nil
	}
	out := make([]KeyCount, 0, len(*m)+1)
	for k, v := range *m {
		out = append(out, KeyCount{Key: k, Count: v.Load()})
	}
	slices.SortFunc(out, func(a, b KeyCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if n := c.other.Load(); n > 0 {
		out = append(out, KeyCount{Key: OtherKeys, Count: n})
	}
	return out
}

// privacyDrops receives what a PrivacyPolicy removed or cut while the
// Monitor applied it: it counts and, once per key name, logs at debug
// level, so a host sees that its "filename" is not the allowlisted
// "file_name". A nil *privacyDrops ignores everything.
type privacyDrops struct {
	dropped, truncated keyCounter
	log                *slog.Logger
	policy             *PrivacyPolicy
}

// keyDropped reports a metadata key removed from an event or activity:
// not allowlisted, or past MaxMetadataKeys when overCap.
func (d *privacyDrops) keyDropped(key string, overCap bool) {
	if d == nil {
		return
	}
	name := logSafeKey(key)
	if !d.dropped.add(name) || !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	reason := "not in the allowlist (PrivacyPolicy.MetadataKeys)"
	if overCap {
		reason = "more allowlisted keys than PrivacyPolicy.MaxMetadataKeys"
	}
	attrs := []slog.Attr{slog.String("key", name), slog.String("reason", reason)}
	if !overCap {
		if like := similarKey(key, d.policy.allowlist()); like != "" {
			attrs = append(attrs, slog.String("allowlisted_as", like))
		}
	}
	d.log.LogAttrs(context.Background(), slog.LevelDebug, "secmon: metadata key dropped; reported once per key", attrs...)
}

// valueCut reports a value cut to its cap: a metadata value (by key), an
// activity's resource ("Resource") or a user agent ("UserAgent").
func (d *privacyDrops) valueCut(key string) {
	if d == nil {
		return
	}
	name := logSafeKey(key)
	if d.truncated.add(name) && d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.LogAttrs(context.Background(), slog.LevelDebug, "secmon: value cut to its cap; reported once per key",
			slog.String("key", name))
	}
}

// logSafeKey returns key as it may appear in Stats and logs: at most
// MaxMetadataKeyLen bytes of letters, digits and "_-.", anything else
// replaced by '?', so a key built from request data cannot forge log lines
// or grow the counters' memory.
func logSafeKey(key string) string {
	n := min(len(key), MaxMetadataKeyLen)
	clean := true
	for i := 0; i < n; i++ {
		if c := key[i]; !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			clean = false
			break
		}
	}
	if clean {
		return key[:n]
	}
	b := []byte(key[:n])
	for i, c := range b {
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			b[i] = '?'
		}
	}
	return string(b)
}

// similarKey returns an allowlisted key that differs from key only in case
// and separators (filename, fileName, file-name for file_name), or "".
func similarKey(key string, allow []string) string {
	sq := squeezeKey(key)
	if sq == "" {
		return ""
	}
	for _, a := range allow {
		if squeezeKey(a) == sq {
			return a
		}
	}
	return ""
}

func squeezeKey(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && i < 128; i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if isAlnum(c) {
			b = append(b, c)
		}
	}
	return string(b)
}
