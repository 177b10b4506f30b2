package secmon_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

func TestSeverityTextRoundTrip(t *testing.T) {
	t.Parallel()
	for s := secmon.SeverityInfo; s <= secmon.SeverityCritical; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", s, err)
		}
		var got secmon.Severity
		if err := got.UnmarshalText(b); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}
		if got != s {
			t.Errorf("round trip of %v gave %v", s, got)
		}
	}
	var s secmon.Severity
	if err := s.UnmarshalText([]byte("HIGH")); err != nil || s != secmon.SeverityHigh {
		t.Errorf("UnmarshalText(HIGH) = %v, %v; want high, nil", s, err)
	}
	if err := s.UnmarshalText([]byte("catastrophic")); err == nil {
		t.Error("UnmarshalText accepted an unknown name")
	}
	if _, err := secmon.Severity(9).MarshalText(); err == nil {
		t.Error("MarshalText accepted an out-of-range severity")
	}
	if got := secmon.Severity(9).String(); got != "severity(9)" {
		t.Errorf("String of out-of-range = %q", got)
	}
}

func TestSeverityJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct{ S secmon.Severity }{secmon.SeverityCritical})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"S":"critical"}` {
		t.Errorf("json = %s", b)
	}
	var v struct{ S secmon.Severity }
	if err := json.Unmarshal([]byte(`{"S":"medium"}`), &v); err != nil || v.S != secmon.SeverityMedium {
		t.Errorf("unmarshal = %v, %v", v.S, err)
	}
	if err := json.Unmarshal([]byte(`{"S":"`+strings.Repeat("x", 1<<16)+`"}`), &v); err == nil {
		t.Error("unmarshal accepted a huge unknown name")
	} else if len(err.Error()) > 200 {
		t.Errorf("error echoes the whole input (%d bytes)", len(err.Error()))
	}
}

func TestEventValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		e     secmon.Event
		field string // "" means valid
	}{
		{"valid", secmon.Event{Type: secmon.EventLoginFailure, UserID: "u1"}, ""},
		{"custom type", secmon.Event{Type: "billing_change2"}, ""},
		{"no type", secmon.Event{}, "Type"},
		{"upper case type", secmon.Event{Type: "Login"}, "Type"},
		{"type with space", secmon.Event{Type: "login failure"}, "Type"},
		{"type starting with digit", secmon.Event{Type: "1login"}, "Type"},
		{"type too long", secmon.Event{Type: secmon.EventType(strings.Repeat("a", 65))}, "Type"},
		{"bad severity", secmon.Event{Type: "x", Severity: 7}, "Severity"},
		{"negative duration", secmon.Event{Type: "x", Duration: -time.Second}, "Duration"},
		{"long user id", secmon.Event{Type: "x", UserID: strings.Repeat("u", 257)}, "UserID"},
		{"control char in session", secmon.Event{Type: "x", SessionID: "a\nb"}, "SessionID"},
		{"DEL in org", secmon.Event{Type: "x", OrgID: "a\x7fb"}, "OrgID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.e.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *secmon.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() = %v, want a FieldError on %s", err, tt.field)
			}
			if !errors.Is(err, secmon.ErrInvalid) {
				t.Errorf("error does not match ErrInvalid")
			}
		})
	}
}

func TestNewIDTimeOrdered(t *testing.T) {
	t.Parallel()
	prev := secmon.NewID()
	for i := 0; i < 1000; i++ {
		id := secmon.NewID()
		if id.Version() != 7 {
			t.Fatalf("version %d, want 7", id.Version())
		}
		if strings.Compare(id.String(), prev.String()) <= 0 {
			t.Fatalf("id %s not after %s", id, prev)
		}
		prev = id
	}
}

func TestRetentionDefaults(t *testing.T) {
	t.Parallel()
	p := secmon.RetentionPolicy{Events: 24 * time.Hour, Alerts: -1}.WithDefaults()
	want := secmon.RetentionPolicy{
		Events:   24 * time.Hour,
		Sessions: 30 * 24 * time.Hour,
		Activity: 90 * 24 * time.Hour,
		Alerts:   -1,
		Blocks:   30 * 24 * time.Hour,
	}
	if p != want {
		t.Errorf("WithDefaults() = %+v, want %+v", p, want)
	}
}

func TestAlertStatusValid(t *testing.T) {
	t.Parallel()
	for _, s := range []secmon.AlertStatus{secmon.AlertOpen, secmon.AlertAcknowledged, secmon.AlertResolved} {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
	}
	if secmon.AlertStatus("closed").Valid() {
		t.Error(`"closed" is valid`)
	}
}

func TestFuncAdapters(t *testing.T) {
	t.Parallel()
	var calls int
	var l secmon.Logger = secmon.LoggerFunc(func(_ context.Context, e secmon.Event) error {
		calls++
		if e.Type != secmon.EventLogout {
			t.Errorf("type %q", e.Type)
		}
		return nil
	})
	if err := l.Log(context.Background(), secmon.Event{Type: secmon.EventLogout}); err != nil || calls != 1 {
		t.Fatalf("LoggerFunc: err %v calls %d", err, calls)
	}
	var rl secmon.RateLimiter = secmon.RateLimiterFunc(func(_ context.Context, key string) (secmon.Decision, error) {
		return secmon.Decision{Allowed: key == "ok"}, nil
	})
	if d, _ := rl.Allow(context.Background(), "ok"); !d.Allowed {
		t.Error("RateLimiterFunc did not pass the key")
	}
}
