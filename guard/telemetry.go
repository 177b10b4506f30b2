package guard

import "github.com/secmon-go/secmon/telemetry"

// TelemetryStats returns the guard's counters as package telemetry reports
// them, for telemetry.Sources.Guard (and the metrics module's
// Config.Guard):
//
//	telemetry.Handler(telemetry.Sources{Monitor: mon, Guard: g.TelemetryStats})
//
// The adapter lives here, not in telemetry, so that a host exposing
// metrics without a guard does not link the guard, and telemetry stays
// free of everything but the standard library and the root package. Like
// Stats, it is safe to call at any time, also after Close.
func (g *Guard) TelemetryStats() telemetry.GuardStats { return g.Stats().Telemetry() }

// Telemetry returns s as package telemetry reports it.
func (s Stats) Telemetry() telemetry.GuardStats {
	out := telemetry.GuardStats{
		Checks:            s.Checks,
		Refusals:          s.Refusals,
		ListRefusals:      s.ListRefusals,
		AllowlistExempt:   s.AllowlistExempt,
		BlocksActive:      s.BlocksActive,
		BlocksDecided:     s.BlocksDecided,
		BlocksManual:      s.BlocksManual,
		BlocksLifted:      s.BlocksLifted,
		WouldBlock:        s.WouldBlock,
		RefusedAllowlist:  s.RefusedAllowlist,
		RefusedCapacity:   s.RefusedCapacity,
		RefusedUnmappable: s.RefusedUnmappable,
		FindingsDropped:   s.FindingsDropped,
		PendingWrites:     s.PendingWrites,
		WriteErrors:       s.WriteErrors,
		SyncErrors:        s.SyncErrors,
		LastSync:          s.LastSync,
		LastSyncLag:       s.LastSyncLag,
		MaxSyncLag:        s.MaxSyncLag,
	}
	if len(s.Lists) > 0 {
		out.Lists = make([]telemetry.GuardList, len(s.Lists))
		for i, l := range s.Lists {
			out.Lists[i] = telemetry.GuardList{
				Name: l.Name, Mode: l.Mode.String(), Prefixes: l.Prefixes, Invalid: l.Invalid, TooBroad: l.TooBroad,
				ReloadErrors: l.ReloadErrors, LoadedAt: l.LoadedAt,
			}
		}
	}
	return out
}
