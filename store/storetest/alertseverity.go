package storetest

import (
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

func testAlertMinSeverity(t *testing.T, s secmon.Store) {
	fx := []secmon.Alert{
		0: alert("r", "info", secmon.SeverityInfo, 1, base, base.Add(1*time.Minute), "0"),
		1: alert("r", "medium", secmon.SeverityMedium, 1, base, base.Add(2*time.Minute), "1"),
		2: alert("r", "high", secmon.SeverityHigh, 1, base, base.Add(3*time.Minute), "2"),
		3: alert("r", "critical", secmon.SeverityCritical, 1, base, base.Add(4*time.Minute), "3"),
	}
	upsertAlerts(t, s, fx...)
	noErr(t, "SetAlertStatus", s.SetAlertStatus(ctx(t), fx[3].ID, secmon.AlertResolved))
	for i := range fx {
		fx[i].Status = secmon.AlertOpen
	}
	fx[3].Status = secmon.AlertResolved
	cases := []struct {
		name string
		q    secmon.AlertQuery
		want []int
	}{
		{"zero keeps all", secmon.AlertQuery{}, []int{3, 2, 1, 0}},
		{"medium and above", secmon.AlertQuery{MinSeverity: secmon.SeverityMedium}, []int{3, 2, 1}},
		{"high and above, open", secmon.AlertQuery{MinSeverity: secmon.SeverityHigh, Status: secmon.AlertOpen}, []int{2}},
		{"critical", secmon.AlertQuery{MinSeverity: secmon.SeverityCritical}, []int{3}},
	}
	for _, tc := range cases {
		diff(t, tc.name, pick(fx, tc.want...), alerts(t, s, tc.q))
	}
	_, err := s.Alerts(ctx(t), secmon.AlertQuery{MinSeverity: secmon.Severity(9)})
	wantErrIs(t, "Alerts with an invalid MinSeverity", err, secmon.ErrInvalid)
}
