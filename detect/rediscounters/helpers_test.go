package rediscounters

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
	"github.com/secmon-go/secmon/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testenv.M(m)) }

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func event(at time.Duration, typ secmon.EventType, ip, user string) secmon.Event {
	e := secmon.Event{Time: t0.Add(at), Type: typ, UserID: user}
	if ip != "" {
		e.IP = netip.MustParseAddr(ip)
	}
	return e
}

func newEngine(t testing.TB, cfg detect.Config) *detect.Engine {
	t.Helper()
	e, err := detect.New(cfg)
	if err != nil {
		t.Fatalf("detect.New: %v", err)
	}
	return e
}

// benchEvents returns n failed logins from IPv4 and IPv6 sources against
// 5,000 accounts, 50 ms apart.
func benchEvents(n int) []secmon.Event {
	out := make([]secmon.Event, n)
	for i := range out {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i / 7 % 4), byte(i / 3 % 250)})
		if i%2 == 1 {
			ip = netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%x", i%1000, i))
		}
		out[i] = secmon.Event{Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), Type: secmon.EventLoginFailure, IP: ip, UserID: fmt.Sprint("user", i%5000)}
	}
	return out
}
