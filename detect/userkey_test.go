package detect

import (
	"strings"
	"testing"
)

// FuzzAppendUserKey checks that the allocation-free AppendUserKey gives
// exactly what Observation.User gives, for any bytes.
func FuzzAppendUserKey(f *testing.F) {
	for _, s := range []string{"", "alice", " Bob ", "ÄLICE", "İstanbul", "a\x00b", "\xff\xfeX", "\uFFFD", "user\u200bname",
		strings.Repeat("Ω", 200), strings.Repeat("a", 300), "\t\n", "ǅungla", "ΣΑΣ"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, id string, caseSensitive bool) {
		want := userKey(id, caseSensitive)
		if got := string(AppendUserKey(nil, id, caseSensitive)); got != want {
			t.Fatalf("AppendUserKey(%q, %v) = %q, want %q", id, caseSensitive, got, want)
		}
		if got := string(AppendUserKey([]byte("prefix"), id, caseSensitive)); got != "prefix"+want {
			t.Fatalf("AppendUserKey with a prefix = %q", got)
		}
	})
}

func TestAppendUserKeyAllocs(t *testing.T) {
	var buf [MaxUserKeyLen]byte
	if n := testing.AllocsPerRun(100, func() { _ = AppendUserKey(buf[:0], "  Some.User@Example.COM ", false) }); n != 0 {
		t.Errorf("AppendUserKey allocates %v times", n)
	}
}
