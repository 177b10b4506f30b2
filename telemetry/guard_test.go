package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
	"github.com/secmon-go/secmon/secmontest"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/telemetry"
)

// guardText returns the guard's families as the text format writes them.
func guardText(t *testing.T, gs telemetry.GuardStats) string {
	t.Helper()
	var b bytes.Buffer
	if err := telemetry.WriteText(&b, telemetry.Gather(telemetry.Sources{Guard: func() telemetry.GuardStats { return gs }})); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGuardFamilies checks every guard family, its name, type, labels and
// unit, from a GuardStats with every field set.
func TestGuardFamilies(t *testing.T) {
	t.Parallel()
	loaded := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	gs := telemetry.GuardStats{
		Checks: 1000, Refusals: 40, ListRefusals: 15, AllowlistExempt: 3,
		BlocksActive: 7, BlocksDecided: 9, BlocksManual: 2, BlocksLifted: 1, WouldBlock: 4,
		RefusedAllowlist: 5, RefusedCapacity: 6, RefusedUnmappable: 8, FindingsDropped: 11,
		PendingWrites: 12, WriteErrors: 13, SyncErrors: 14,
		LastSync: loaded.Add(time.Minute), LastSyncLag: 25 * time.Millisecond, MaxSyncLag: 1500 * time.Millisecond,
		Lists: []telemetry.GuardList{
			{Name: "firehol_level1", Mode: "block", Prefixes: 4500, Invalid: 2, TooBroad: 1, ReloadErrors: 3, LoadedAt: loaded},
			{Name: "tor_exits", Mode: "observe", Prefixes: 1200, LoadedAt: loaded.Add(time.Hour)},
		},
	}
	want := `# HELP secmon_guard_checks_total Requests the guard checked against the blocks and lists in force.
# TYPE secmon_guard_checks_total counter
secmon_guard_checks_total 1000
# HELP secmon_guard_refusals_total Requests the guard refused, by kind: block (a block on the address, its prefix or the account) or list (a blocking reputation list).
# TYPE secmon_guard_refusals_total counter
secmon_guard_refusals_total{kind="block"} 25
secmon_guard_refusals_total{kind="list"} 15
# HELP secmon_guard_allowlist_exempt_total Requests a block or list held that passed because the address is allowlisted.
# TYPE secmon_guard_allowlist_exempt_total counter
secmon_guard_allowlist_exempt_total 3
# HELP secmon_guard_blocks_active Blocks in force now (reputation lists apart).
# TYPE secmon_guard_blocks_active gauge
secmon_guard_blocks_active 7
# HELP secmon_guard_blocks_total Blocks the guard made, by origin: rule (decided from a finding) or manual (an operator).
# TYPE secmon_guard_blocks_total counter
secmon_guard_blocks_total{origin="manual"} 2
secmon_guard_blocks_total{origin="rule"} 9
# HELP secmon_guard_blocks_lifted_total Blocks lifted before they ended.
# TYPE secmon_guard_blocks_lifted_total counter
secmon_guard_blocks_lifted_total 1
# HELP secmon_guard_would_block_total Blocks a dry run logged and did not make.
# TYPE secmon_guard_would_block_total counter
secmon_guard_would_block_total 4
# HELP secmon_guard_blocks_refused_total Blocks the guard did not make, by reason: allowlist (the subject is allowlisted), capacity (the block bound was reached) or unmappable (the finding's addresses were masked by the privacy policy).
# TYPE secmon_guard_blocks_refused_total counter
secmon_guard_blocks_refused_total{reason="allowlist"} 5
secmon_guard_blocks_refused_total{reason="capacity"} 6
secmon_guard_blocks_refused_total{reason="unmappable"} 8
# HELP secmon_guard_findings_dropped_total Findings the guard never decided: its queue was full or it was closed.
# TYPE secmon_guard_findings_dropped_total counter
secmon_guard_findings_dropped_total 11
# HELP secmon_guard_pending_writes Blocks and lifts waiting to be written to the store.
# TYPE secmon_guard_pending_writes gauge
secmon_guard_pending_writes 12
# HELP secmon_guard_write_errors_total Failed writes of blocks and lifts to the store (retried).
# TYPE secmon_guard_write_errors_total counter
secmon_guard_write_errors_total 13
# HELP secmon_guard_sync_errors_total Failed reads of the fleet's blocks from the store (retried).
# TYPE secmon_guard_sync_errors_total counter
secmon_guard_sync_errors_total 14
# HELP secmon_guard_sync_lag_seconds For the latest block decided on another instance: from its creation to its enforcement here.
# TYPE secmon_guard_sync_lag_seconds gauge
secmon_guard_sync_lag_seconds 0.025
# HELP secmon_guard_sync_lag_max_seconds The longest such lag so far (clock skew between instances included).
# TYPE secmon_guard_sync_lag_max_seconds gauge
secmon_guard_sync_lag_max_seconds 1.5
# HELP secmon_guard_last_sync_timestamp_seconds Unix time of the latest full read of the blocks in force; 0 before the first.
# TYPE secmon_guard_last_sync_timestamp_seconds gauge
secmon_guard_last_sync_timestamp_seconds 1.77245286e+09
# HELP secmon_guard_list_prefixes Prefixes of each loaded reputation list, by list and mode (block or observe).
# TYPE secmon_guard_list_prefixes gauge
secmon_guard_list_prefixes{list="firehol_level1",mode="block"} 4500
secmon_guard_list_prefixes{list="tor_exits",mode="observe"} 1200
# HELP secmon_guard_list_bad_lines Lines of each loaded reputation list that were not loaded, by reason: invalid (not an address or prefix) or too_broad (a prefix shorter than the guard accepts).
# TYPE secmon_guard_list_bad_lines gauge
secmon_guard_list_bad_lines{list="firehol_level1",reason="invalid"} 2
secmon_guard_list_bad_lines{list="firehol_level1",reason="too_broad"} 1
secmon_guard_list_bad_lines{list="tor_exits",reason="invalid"} 0
secmon_guard_list_bad_lines{list="tor_exits",reason="too_broad"} 0
# HELP secmon_guard_list_reload_errors_total Failed reloads of each reputation list; the previous version stays in force.
# TYPE secmon_guard_list_reload_errors_total counter
secmon_guard_list_reload_errors_total{list="firehol_level1"} 3
secmon_guard_list_reload_errors_total{list="tor_exits"} 0
# HELP secmon_guard_list_loaded_timestamp_seconds Unix time the version of each reputation list in force was loaded.
# TYPE secmon_guard_list_loaded_timestamp_seconds gauge
secmon_guard_list_loaded_timestamp_seconds{list="firehol_level1"} 1.7724528e+09
secmon_guard_list_loaded_timestamp_seconds{list="tor_exits"} 1.7724564e+09
`
	if got := guardText(t, gs); got != want {
		t.Errorf("guard families:\n%s\nwant:\n%s", got, want)
	}
}

// TestGuardListsBounded: lists beyond MaxGuardLists count under Other (by
// mode for the sizes), names unfit for a label are fitted, and the oldest
// load time stands for the lists counted together.
func TestGuardListsBounded(t *testing.T) {
	t.Parallel()
	old := time.Unix(1e9, 0)
	var gs telemetry.GuardStats
	for i := range telemetry.MaxGuardLists + 10 {
		mode := "block"
		if i%2 == 1 {
			mode = "observe"
		}
		l := telemetry.GuardList{Name: fmt.Sprintf("l%03d", i), Mode: mode, Prefixes: 10, Invalid: 1, LoadedAt: time.Unix(2e9, 0)}
		if i == telemetry.MaxGuardLists+5 {
			l.LoadedAt = old
		}
		gs.Lists = append(gs.Lists, l)
	}
	gs.Lists = append(gs.Lists, telemetry.GuardList{Name: "bad\xffname", Mode: "block", Prefixes: 1})
	fams := telemetry.Gather(telemetry.Sources{Guard: func() telemetry.GuardStats { return gs }})
	reload := family(t, fams, "secmon_guard_list_reload_errors_total")
	if n := len(reload.Samples); n != telemetry.MaxGuardLists {
		t.Errorf("%d lists reported apart, want %d", n, telemetry.MaxGuardLists)
	}
	prefixes := family(t, fams, "secmon_guard_list_prefixes")
	var total float64
	for _, s := range prefixes.Samples {
		total += s.Value
	}
	if total != float64(10*(telemetry.MaxGuardLists+10)+1) {
		t.Errorf("list prefixes sum to %v: lists beyond the bound were lost", total)
	}
	// 63 apart (l000…l062), then l063…l073 and the bad name under Other:
	// l063, l065, … are observe lists, l064, l066, … and the bad name block.
	if got := value(t, prefixes, telemetry.Other, "observe"); got != 60 {
		t.Errorf("observe lists under %s: %v prefixes, want 60", telemetry.Other, got)
	}
	if got := value(t, prefixes, telemetry.Other, "block"); got != 51 {
		t.Errorf("block lists under %s: %v prefixes, want 51", telemetry.Other, got)
	}
	if got := value(t, family(t, fams, "secmon_guard_list_loaded_timestamp_seconds"), telemetry.Other); got != 1e9 {
		t.Errorf("lists under %s loaded at %v, want the oldest, 1e9", telemetry.Other, got)
	}
	if got := value(t, family(t, fams, "secmon_guard_list_bad_lines"), telemetry.Other, "invalid"); got != 11 {
		t.Errorf("bad lines under %s: %v, want 11", telemetry.Other, got)
	}
	var text bytes.Buffer
	if err := telemetry.WriteText(&text, fams); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "\xff") {
		t.Error("a list name with invalid UTF-8 reached the exposition")
	}
}

// TestGuardSource: a real guard's counters, through Guard.TelemetryStats,
// as a host wires them.
func TestGuardSource(t *testing.T) {
	t.Parallel()
	clock := secmontest.NewClock(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	g, err := guard.New(guard.Config{Store: memstore.New(), Clock: clock, Allowlist: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer g.Close(ctx)
	if err := g.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.LoadList(guard.ListConfig{Name: "drop"}, strings.NewReader("198.51.100.0/24\nnot an address\n0.0.0.0/1\n")); err != nil {
		t.Fatal(err)
	}
	b, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("203.0.113.0/24"), By: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("192.0.2.0/25"), By: "operator"}); err == nil {
		t.Fatal("an allowlisted prefix was blocked")
	}
	if _, err := g.Block(ctx, secmon.Block{Prefix: netip.MustParsePrefix("192.0.0.0/16"), By: "operator"}); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"203.0.113.5", "203.0.113.6", "198.51.100.1", "192.0.2.1", "10.0.0.1"} {
		g.Check(netip.MustParseAddr(ip), "")
	}
	if err := g.Lift(ctx, b.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	fams := telemetry.Gather(telemetry.Sources{Guard: g.TelemetryStats})
	for name, want := range map[string]float64{
		"secmon_guard_checks_total":           5,
		"secmon_guard_allowlist_exempt_total": 1,
		"secmon_guard_blocks_active":          1,
		"secmon_guard_blocks_lifted_total":    1,
	} {
		if got := value(t, family(t, fams, name)); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"secmon_guard_refusals_total", []string{"block"}, 2},
		{"secmon_guard_refusals_total", []string{"list"}, 1},
		{"secmon_guard_blocks_total", []string{"manual"}, 2},
		{"secmon_guard_blocks_refused_total", []string{"allowlist"}, 1},
		{"secmon_guard_list_prefixes", []string{"drop", "block"}, 1},
		{"secmon_guard_list_bad_lines", []string{"drop", "invalid"}, 1},
		{"secmon_guard_list_bad_lines", []string{"drop", "too_broad"}, 1},
	} {
		if got := value(t, family(t, fams, c.family), c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	if got := value(t, family(t, fams, "secmon_guard_last_sync_timestamp_seconds")); got <= 0 {
		t.Errorf("last sync %v after Ready", got)
	}
}
