// Command quickstart records a handful of security events — a normal login,
// a burst of failed logins from one address, an upload that was blocked — and
// prints what secmon stored: the events, the alert the burst opened, and the
// daily summary.
//
//	go run ./examples/quickstart [-keep]
//
// It needs no services: events go to the in-memory store. With
// SECMON_DATABASE_URL set (a postgres:// URL) it uses PostgreSQL instead:
// it creates the role service_role (NOLOGIN) if the cluster lacks it (the
// schema's row-level security policies are granted to that role, and
// sqlschema.Migrate needs it to exist), migrates a schema of its own named
// secmon_quickstart_ and eight random hexadecimal digits, and drops that
// schema before it exits, so every run starts empty and prints the same
// output. -keep keeps the schema for a look with psql; its name is printed
// on standard error. The role stays: it belongs to the whole cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

func main() {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the PostgreSQL schema instead of dropping it at exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, os.Stderr, os.Getenv("SECMON_DATABASE_URL"), *keep); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w, stderr io.Writer, databaseURL string, keep bool) error {
	store, backend, closeStore, err := openStore(ctx, databaseURL, keep, stderr)
	if err != nil {
		return err
	}
	defer closeStore()

	engine, err := detect.New(detect.Config{})
	if err != nil {
		return err
	}
	mon, err := secmon.New(secmon.Config{Store: store, Detector: engine})
	if err != nil {
		return err
	}

	attacker := netip.MustParseAddr("203.0.113.7")
	user := netip.MustParseAddr("198.51.100.20")
	start := time.Now().UTC()
	events := []secmon.Event{{
		Type: secmon.EventLoginSuccess, UserID: "alice", SessionID: "s-alice", IP: user,
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
	}}
	for i := 0; i < 12; i++ {
		events = append(events, secmon.Event{
			Type: secmon.EventLoginFailure, Severity: secmon.SeverityLow, UserID: "bob", IP: attacker,
			Metadata: map[string]string{"reason": "bad_password", "password": "hunter2"}, // the password never reaches the store
		})
	}
	events = append(events, secmon.Event{
		Type: secmon.EventUploadBlocked, Severity: secmon.SeverityHigh, UserID: "alice", IP: user,
		Duration: 3 * time.Millisecond,
		Metadata: map[string]string{"file_type": "image/png", "threat_codes": "trailing_data,embedded_archive"},
	})
	for i, e := range events {
		e.Time = start.Add(time.Duration(i) * time.Second)
		if err := mon.Log(ctx, e); err != nil {
			return fmt.Errorf("log event %d: %w", i, err)
		}
	}
	// Close flushes every queued event and alert to the store.
	if err := mon.Close(ctx); err != nil {
		return err
	}

	fmt.Fprintf(w, "secmon quickstart (%s store)\n\nevents, oldest first:\n", backend)
	stored, err := store.QueryEvents(ctx, secmon.EventQuery{From: start.Add(-time.Minute), Limit: 100})
	if err != nil {
		return err
	}
	for i := len(stored) - 1; i >= 0; i-- {
		e := stored[i]
		fmt.Fprintf(w, "  %-16s %-8s user=%-6s ip=%-15s %s\n", e.Type, e.Severity, e.UserID, e.IP, metadata(e.Metadata))
	}

	alerts, err := store.Alerts(ctx, secmon.AlertQuery{Status: secmon.AlertOpen, Since: start.Add(-time.Minute)})
	if err != nil {
		return err
	}
	// Alerts raised by the same event share their LastSeen, and the store
	// breaks that tie by ID, which is random: sort by rule so every run
	// prints the same.
	sort.SliceStable(alerts, func(i, j int) bool {
		if !alerts[i].LastSeen.Equal(alerts[j].LastSeen) {
			return alerts[i].LastSeen.After(alerts[j].LastSeen)
		}
		return alerts[i].Rule < alerts[j].Rule
	})
	fmt.Fprintf(w, "\nopen alerts: %d\n", len(alerts))
	for _, a := range alerts {
		fmt.Fprintf(w, "  %-22s %-8s subject=%s count=%d suggested=%s\n    %s\n", a.Rule, a.Severity, a.Subject, a.Count, a.Action.Kind, a.Summary)
	}

	sum, err := store.Summary(ctx, start.Add(-time.Minute), start.Add(24*time.Hour))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsummary: %d events, %d failed logins, %d uploads (%d blocked), %d alerts opened\n",
		sum.Events, sum.LoginFailures, sum.Uploads, sum.ThreatsBlocked, sum.AlertsOpened)
	st := mon.Stats()
	fmt.Fprintf(w, "monitor: %d accepted, %d written, %d batches, %d queue-full\n",
		st.EventsAccepted, st.EventsWritten, st.Batches, st.QueueFull)
	return nil
}

func metadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
