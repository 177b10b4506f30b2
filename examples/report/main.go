// Command report prints the daily security summary: uploads, threats
// blocked, average validation time, events by type and severity, the
// actions the open alerts suggest (block an IP group for a while, ask an
// account to re-authenticate, review), the IP groups with the most hostile
// events and the accounts they went for, the alerts opened, and the hourly
// breakdown of the 24 hours covered.
//
// Hostile events are failed logins (and MFA), rate-limited, denied and
// blocked requests, blocked uploads and session anomalies; IP groups are
// IPv4 addresses and IPv6 /64s (secmon.IPGroup), so an attacker rotating
// through its /64 is one source. The lists count the window's newest
// secmon.MaxQueryLimit hostile events at most, and say so when there were
// more.
//
// An hour is an attack hour, marked in the chart and the breakdown, when an
// alert was first seen in it, when its failed logins reached the larger of
// 10 and three times the window's median hour, or when it held a high or
// critical event. When the window spans two days (today's report), times
// carry their date.
//
//	go run ./examples/report [-date YYYY-MM-DD] [-html FILE] [-seed N] [-schema NAME]
//
// With SECMON_DATABASE_URL set (a postgres:// URL) it reads the secmon schema
// there (-schema, default "secmon") through pgstore; it never writes to it.
// Without it, it generates a realistic demo day into an in-memory store
// (ordinary logins and uploads, a brute-force burst held back by the login
// rate limiter, an IPv6 attacker rotating through its /64, hostile uploads,
// an impossible journey), runs it through a Monitor with the default detection
// rules so alerts open as they would live, and reports on that. The demo is
// deterministic for a given -seed and -date.
//
// The report covers the UTC day given by -date (default today). For today
// it covers the 24 hours ending with the current hour (timestamp >
// now() - 24 hours).
//
// With -html FILE it also writes a self-contained HTML page (no JavaScript,
// no external assets or fonts) with an inline SVG bar chart of the 24 hours.
// It reads on a phone: at 400 CSS pixels wide the page scrolls down, never
// sideways (the wide tables become one labelled block per row).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/pgstore"
)

// DatabaseURLVar names the variable holding the PostgreSQL URL.
const DatabaseURLVar = "SECMON_DATABASE_URL"

func main() {
	ctx := context.Background()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, time.Now))
}

// options are the parsed command line.
type options struct {
	day    time.Time // midnight UTC of the chosen day
	html   string
	seed   uint64
	schema string
}

func parseFlags(args []string, stderr io.Writer, now time.Time) (options, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", now.UTC().Format(time.DateOnly), "UTC day to report on, YYYY-MM-DD")
	html := fs.String("html", "", "also write the report as a self-contained HTML page to this file")
	seed := fs.Uint64("seed", 1, "seed of the generated demo day (without "+DatabaseURLVar+")")
	schema := fs.String("schema", pgstore.DefaultSchema, "schema holding the secmon tables (with "+DatabaseURLVar+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: report [-date YYYY-MM-DD] [-html FILE] [-seed N] [-schema NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	day, err := time.Parse(time.DateOnly, *date)
	if err != nil {
		return options{}, fmt.Errorf("-date %q is not YYYY-MM-DD", *date)
	}
	return options{day: day, html: *html, seed: *seed, schema: *schema}, nil
}

// window returns the 24 hours the report covers: the chosen UTC day, or,
// when that day is today, the 24 whole hours ending with the current one.
func window(day, now time.Time) (from, to time.Time) {
	to = day.Add(24 * time.Hour)
	if end := now.UTC().Truncate(time.Hour).Add(time.Hour); end.Before(to) && !end.Before(day) {
		to = end
	}
	return to.Add(-24 * time.Hour), to
}

// run is the command; it returns the exit status: 0 on success, 1 when the
// report could not be produced, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string, now func() time.Time) int {
	opts, err := parseFlags(args, stderr, now())
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 2
	}
	from, to := window(opts.day, now())
	rep, err := produce(ctx, opts, env(DatabaseURLVar), from, to)
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 1
	}
	if err := writeText(stdout, rep); err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 1
	}
	if opts.html != "" {
		if err := writeHTMLFile(opts.html, rep); err != nil {
			fmt.Fprintln(stderr, "report:", err)
			return 1
		}
	}
	return 0
}

// produce reads the report from PostgreSQL, or from a generated demo day.
func produce(ctx context.Context, opts options, databaseURL string, from, to time.Time) (*report, error) {
	if databaseURL == "" {
		store := memstore.New()
		if err := generateDemo(ctx, store, opts.seed, from, to); err != nil {
			return nil, fmt.Errorf("generating the demo day: %w", err)
		}
		return build(ctx, store, from, to, fmt.Sprintf("generated demo day (seed %d)", opts.seed))
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, fmt.Errorf("%s is not a valid connection string", DatabaseURLVar)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Config{Schema: opts.schema})
	if err != nil {
		return nil, err
	}
	return build(ctx, store, from, to, "PostgreSQL schema "+opts.schema)
}
