package secmon

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// runMaintenance is the maintenance goroutine, started by New when
// Config.Maintenance.Interval > 0.
func (m *Monitor) runMaintenance() {
	defer close(m.maintainDone)
	t := time.NewTicker(m.cfg.Maintenance.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(m.bgCtx, m.cfg.Maintenance.Timeout)
			_, _ = m.RunMaintenance(ctx)
			cancel()
		}
	}
}

// RunMaintenance runs one maintenance pass now: Maintainer.Maintain when the
// Store implements Maintainer (which, with several instances, lets only one
// of them work at a time), else Store.Purge with Config.Maintenance.Retention.
// The maintenance loop calls it every Config.Maintenance.Interval; hosts may
// call it themselves, for example from a scheduled job. It may be called
// after Close.
func (m *Monitor) RunMaintenance(ctx context.Context) (MaintenanceResult, error) {
	policy := m.cfg.Maintenance.Retention.WithDefaults()
	now := m.clock.Now()
	var (
		res MaintenanceResult
		err error
	)
	if mt, ok := m.store.(Maintainer); ok {
		res, err = mt.Maintain(ctx, now, policy)
	} else {
		res.Purged, err = m.store.Purge(ctx, policy, now)
	}
	m.st.maintenanceRuns.Add(1)
	if err != nil {
		m.st.maintenanceErrors.Add(1)
		err = fmt.Errorf("secmon: maintenance: %w", err)
		m.setErr(err)
		m.log.LogAttrs(ctx, slog.LevelWarn, "secmon: maintenance failed", slog.Any("error", err))
		return res, err
	}
	m.log.LogAttrs(ctx, slog.LevelDebug, "secmon: maintenance done",
		slog.Bool("skipped", res.Skipped), slog.Int("partitions_created", res.PartitionsCreated),
		slog.Int64("events_purged", res.Purged.Events))
	return res, nil
}
