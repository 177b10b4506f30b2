package detect

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secmon-go/secmon"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := RuleFunc("x", func(context.Context, *Observation) ([]secmon.Finding, error) { return nil, nil })
	bad := []Config{
		{Cooldown: -1},
		{MaxSubjects: -1},
		{MaxBlock: -time.Second},
		{StrikeMemory: -time.Second},
		{Rules: []Rule{nil}},
		{Rules: []Rule{ok, ok}},
		{Rules: []Rule{RuleFunc("", nil)}},
		{Rules: []Rule{RuleFunc("nil_func", nil)}},
		{MaxKeys: -1},
		{MaxKeys: 10, Counters: failingCounters{}},
	}
	for i, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	e := newEngine(t, Config{Rules: []Rule{}})
	if fs, err := e.Observe(context.Background(), event(0, secmon.EventLoginFailure, "192.0.2.1", "u")); fs != nil || err != nil {
		t.Errorf("no rules: %v, %v", fs, err)
	}
}

// A rule that panics or errors loses its own findings for the event; the
// others still run and their findings are returned with the joined error.
func TestRuleFailureContained(t *testing.T) {
	t.Parallel()
	finding := func(name secmon.RuleName) Rule {
		return RuleFunc(name, func(_ context.Context, o *Observation) ([]secmon.Finding, error) {
			return []secmon.Finding{{Subject: "user:" + o.Event.UserID, Summary: string(name)}}, nil
		})
	}
	boom := errors.New("boom")
	e := newEngine(t, Config{Cooldown: time.Nanosecond, Rules: []Rule{
		finding("before"),
		RuleFunc("panics", func(context.Context, *Observation) ([]secmon.Finding, error) { panic("kaput") }),
		panicPlan{},
		RuleFunc("fails", func(context.Context, *Observation) ([]secmon.Finding, error) {
			return []secmon.Finding{{Subject: "x"}}, boom
		}),
		&BruteForceAccount{Threshold: 1},
		finding("after"),
	}})
	fs, err := e.Observe(context.Background(), event(0, secmon.EventLoginFailure, "192.0.2.1", "u"))
	if got := pairs(fs); len(got) != 3 || got[0] != "after user:u" || got[1] != "before user:u" || got[2] != "brute_force_account user:u" {
		t.Fatalf("findings = %v", got)
	}
	var re *RuleError
	if !errors.As(err, &re) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	st := e.Stats()
	if st.RuleErrors != 3 || st.RulePanics != 2 || st.Findings != 3 || st.Events != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// panicPlan panics while planning its counter ops.
type panicPlan struct{}

func (panicPlan) Name() secmon.RuleName            { return "panic_plan" }
func (panicPlan) Plan(_ *Observation, _ []Op) []Op { panic("plan") }
func (panicPlan) Evaluate(context.Context, *Observation, []Op) ([]secmon.Finding, error) {
	return []secmon.Finding{{Subject: "never"}}, nil
}

type failingCounters struct{ err error }

func (f failingCounters) Do(context.Context, time.Time, []Op) error { return f.err }

// When the counters fail, rules that need them are skipped and the rest run.
func TestCounterFailure(t *testing.T) {
	t.Parallel()
	down := errors.New("redis down")
	e := newEngine(t, Config{Counters: failingCounters{down}, Rules: []Rule{
		&BruteForceIP{Threshold: 1},
		&PrivilegeEscalation{},
		RuleFunc("always", func(context.Context, *Observation) ([]secmon.Finding, error) {
			return []secmon.Finding{{Subject: "s"}}, nil
		}),
	}})
	fs, err := e.Observe(context.Background(), event(0, secmon.EventLoginFailure, "192.0.2.1", ""))
	if !errors.Is(err, down) || len(fs) != 1 || fs[0].Rule != "always" {
		t.Fatalf("findings %v, err %v", fs, err)
	}
	if e.Stats().CounterErrors != 1 {
		t.Errorf("stats = %+v", e.Stats())
	}
	// An event no counting rule cares about never reaches the counters.
	if _, err := e.Observe(context.Background(), event(0, secmon.EventPageView, "192.0.2.1", "")); err != nil {
		t.Errorf("page_view: %v", err)
	}
}

// An event without a Time is judged at the Clock's time; findings carry it.
func TestZeroTimeUsesClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEngine(t, Config{Clock: fixedClock(at), Rules: []Rule{&BruteForceIP{Threshold: 2}}})
	x := event(0, secmon.EventLoginFailure, "192.0.2.1", "")
	x.Time = time.Time{}
	fs := replayAll(t, e, []secmon.Event{x, x})
	if len(fs) != 1 || !fs[0].Time.Equal(at) {
		t.Fatalf("findings = %+v", fs)
	}
}

// Escalation forgets a subject after StrikeMemory and never exceeds
// MaxBlock.
func TestEscalation(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{
		Rules:        []Rule{&BruteForceIP{Threshold: 1, Window: time.Minute, Block: time.Hour}},
		MaxBlock:     3 * time.Hour,
		StrikeMemory: 10 * time.Minute,
	})
	var got []time.Duration
	for _, at := range []time.Duration{0, 2 * time.Minute, 4 * time.Minute, 6 * time.Minute, 30 * time.Minute} {
		fs := replayAll(t, e, []secmon.Event{event(at, secmon.EventLoginFailure, "192.0.2.1", "")})
		if len(fs) != 1 {
			t.Fatalf("at %v: %+v", at, fs)
		}
		got = append(got, fs[0].Action.Duration)
	}
	want := []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 3 * time.Hour, time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("blocks = %v, want %v", got, want)
		}
	}
	if escalate(time.Hour, 62, 24*time.Hour) != 24*time.Hour || escalate(time.Hour, 0, 30*time.Minute) != 30*time.Minute {
		t.Error("escalate does not cap")
	}
}

func TestConcurrentObserve(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Config{})
	done := make(chan int)
	for g := range 4 {
		go func() {
			n := 0
			for i := range 500 {
				fs, err := e.Observe(context.Background(), event(time.Duration(i)*time.Millisecond, secmon.EventLoginFailure, "192.0.2.1", "u"))
				if err != nil {
					t.Error(err)
				}
				n += len(fs)
			}
			_ = g
			done <- n
		}()
	}
	total := 0
	for range 4 {
		total += <-done
	}
	// brute_force_ip, brute_force_account: once each per window across all goroutines.
	if total != 2 {
		t.Errorf("findings = %d, want 2", total)
	}
}

// Failures are logged when a Logger is given, at most once per second.
func TestFailureLogging(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	e := newEngine(t, Config{Logger: log, Rules: []Rule{
		RuleFunc("panics", func(context.Context, *Observation) ([]secmon.Finding, error) { panic("kaput") }),
	}})
	for range 100 {
		e.Observe(context.Background(), event(0, secmon.EventPageView, "", ""))
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "rule=panics") || !strings.Contains(out, "kaput") {
		t.Fatalf("log = %q", out)
	}
	if e.Stats().RulePanics != 100 {
		t.Fatalf("stats = %+v", e.Stats())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
