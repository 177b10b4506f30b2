// Command f2bagree replays real authentication logs through secmon's
// detection rules and compares, source by source, what they report with
// what fail2ban's common defaults ban: a source (an IP group) with 5
// failures within 10 minutes (maxretry 5, findtime 10m).
//
// It reads two kinds of input, neither of which it ships (fail2ban's test
// fixtures are GPL-2; the loghub logs are for research use): fail2ban's
// filter fixtures, whose "# failJSON: {…}" annotations give each failure
// line's time and host, and raw OpenSSH syslog files (as in loghub's
// OpenSSH and Linux data sets), whose failure lines it recognises itself.
//
//	git clone --depth 1 https://github.com/fail2ban/fail2ban /tmp/fail2ban
//	git clone --depth 1 https://github.com/logpai/loghub /tmp/loghub
//	go run ./cmd/f2bagree -fixtures /tmp/fail2ban/fail2ban/tests/files/logs \
//	    -syslog /tmp/loghub/OpenSSH/OpenSSH_2k.log,/tmp/loghub/Linux/Linux_2k.log
//
// Each file is replayed on its own, in time order, through a detect.Engine
// with the default rules and in-memory counters. A source "agrees" when
// fail2ban would ban it and a finding names its IP group as its subject,
// or when fail2ban would not ban it and no finding does. The Markdown table
// it prints is what benchmarks/results/fail2ban-agreement.md holds.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Fail2ban's common defaults.
const (
	maxRetry = 5
	findTime = 10 * time.Minute
)

func main() {
	fixtures := flag.String("fixtures", "", "directory of fail2ban filter fixtures (fail2ban/tests/files/logs)")
	syslogs := flag.String("syslog", "", "comma-separated raw sshd syslog files")
	year := flag.Int("year", 2015, "year of syslog timestamps, which carry none")
	flag.BoolVar(&fileOrder, "file-order", false, "replay events in the order the file lists them, not sorted by time")
	flag.Parse()
	var results []result
	if *fixtures != "" {
		files, err := filepath.Glob(filepath.Join(*fixtures, "*"))
		if err != nil {
			fail(err)
		}
		sort.Strings(files)
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.IsDir() {
				continue
			}
			evs, skipped, err := readFixture(f)
			if err != nil {
				fail(err)
			}
			if len(evs) == 0 {
				continue
			}
			results = append(results, compare("fail2ban/"+filepath.Base(f), evs, skipped))
		}
	}
	for _, f := range strings.Split(*syslogs, ",") {
		if f == "" {
			continue
		}
		evs, skipped, err := readSyslog(f, *year)
		if err != nil {
			fail(err)
		}
		results = append(results, compare(filepath.Base(f), evs, skipped))
	}
	if len(results) == 0 {
		fail(fmt.Errorf("nothing to read: give -fixtures and/or -syslog"))
	}
	printTable(os.Stdout, results)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "f2bagree:", err)
	os.Exit(1)
}

// ---- reading -----------------------------------------------------------

// failJSON is a fixture annotation.
type failJSON struct {
	Time     *string         `json:"time"`
	Match    bool            `json:"match"`
	Host     *string         `json:"host"`
	Attempts int             `json:"attempts"`
	User     json.RawMessage `json:"user"`
}

var fixtureTime = []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05"}

// readFixture turns the failure lines of a fail2ban fixture into
// login_failure events, one per attempt, at the annotated time from the
// annotated host. Annotations whose host is no IP address (host names, or
// 192.030.0.6, which netip rejects) are skipped and counted.
func readFixture(path string) ([]secmon.Event, int, error) {
	var evs []secmon.Event
	skipped := 0
	err := eachLine(path, func(line string) {
		i := strings.Index(line, "failJSON:")
		if !strings.HasPrefix(strings.TrimSpace(line), "#") || i < 0 {
			return
		}
		var fj failJSON
		if err := json.Unmarshal([]byte(strings.TrimSpace(line[i+len("failJSON:"):])), &fj); err != nil || !fj.Match {
			return
		}
		if fj.Host == nil || fj.Time == nil {
			skipped++
			return
		}
		ip, err := netip.ParseAddr(*fj.Host)
		if err != nil {
			skipped++
			return
		}
		var t time.Time
		for _, layout := range fixtureTime {
			if t, err = time.Parse(layout, *fj.Time); err == nil {
				break
			}
		}
		if err != nil {
			skipped++
			return
		}
		user := ""
		_ = json.Unmarshal(fj.User, &user)
		for range max(fj.Attempts, 1) {
			evs = append(evs, secmon.Event{Time: t, Type: secmon.EventLoginFailure, IP: ip, UserID: user})
		}
	})
	return evs, skipped, err
}

// sshd failure lines, as fail2ban's sshd filter (mode normal) counts them:
// failed passwords (not public keys), invalid or refused users, PAM
// authentication failures logged by sshd itself. pam_unix's own
// "authentication failure" lines are not failures to fail2ban's sshd
// filter (the sshd line that follows is), so they are not counted either.
var (
	syslogPrefix = regexp.MustCompile(`^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) \S+ sshd(?:-session)?(\(pam_unix\))?\[\d+\]: (.*)$`)
	// Older systems log sshd's PAM failures as "sshd(pam_unix)[pid]:
	// authentication failure; … rhost=…" and nothing else; fail2ban's
	// pam-generic filter counts those.
	pamFailure   = regexp.MustCompile(`^authentication failure; .*rhost=(\S+)`)
	sshdFailures = []*regexp.Regexp{
		regexp.MustCompile(`^(?:message repeated (\d+) times: \[ )?Failed (?:password|keyboard-interactive/pam|none) for (?:invalid user )?(\S*) from (\S+) port \d+`),
		regexp.MustCompile(`^(?:error: PAM: )?[Aa]uthentication (?:failure|error) for (?:illegal user |invalid user )?(\S*) from (\S+)`),
		regexp.MustCompile(`^[Ii](?:nvalid|llegal) user (\S*) from (\S+)`),
		regexp.MustCompile(`^User (\S+) from (\S+) not allowed because`),
		regexp.MustCompile(`^ROOT LOGIN REFUSED FROM (\S+)`),
	}
	months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
)

// readSyslog reads sshd failure lines from a syslog file.
func readSyslog(path string, year int) ([]secmon.Event, int, error) {
	var evs []secmon.Event
	skipped := 0
	err := eachLine(path, func(line string) {
		m := syslogPrefix.FindStringSubmatch(line)
		if m == nil {
			return
		}
		day, _ := strconv.Atoi(m[2])
		hh, _ := strconv.Atoi(m[3])
		mm, _ := strconv.Atoi(m[4])
		ss, _ := strconv.Atoi(m[5])
		t := time.Date(year, months[m[1]], day, hh, mm, ss, 0, time.UTC)
		msg := m[7]
		if m[6] != "" { // sshd(pam_unix)
			if pm := pamFailure.FindStringSubmatch(msg); pm != nil {
				if ip, err := netip.ParseAddr(pm[1]); err == nil {
					evs = append(evs, secmon.Event{Time: t, Type: secmon.EventLoginFailure, IP: ip})
				} else {
					skipped++
				}
			}
			return
		}
		for k, re := range sshdFailures {
			sm := re.FindStringSubmatch(msg)
			if sm == nil {
				continue
			}
			host, user := sm[len(sm)-1], ""
			if k < 4 {
				user = sm[len(sm)-2]
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				skipped++ // a host name: fail2ban would resolve it; we do not
				break
			}
			evs = append(evs, secmon.Event{Time: t, Type: secmon.EventLoginFailure, IP: ip, UserID: user})
			break
		}
	})
	return evs, skipped, err
}

// eachLine calls each with every line of the file at path, lines of up to
// 1 MiB.
func eachLine(path string, each func(line string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		each(sc.Text())
	}
	return sc.Err()
}

// ---- comparing -----------------------------------------------------------

type result struct {
	name                     string
	events, skipped, sources int
	banned                   int // sources fail2ban's defaults ban
	tp, fn, fp               int
	findings                 int // findings with an IP-group subject
	maxPerSource             int
	allFindings              int
	namedInSources           int // sources below the bar named in an account-level finding's Sources
}

// groupOf is the IP group a source is counted under.
func groupOf(ip netip.Addr) netip.Prefix { return secmon.IPGroup(ip) }

// bans reports whether times (sorted) hold maxRetry failures within less
// than findTime of one another.
func bans(times []time.Time) bool {
	for i := maxRetry - 1; i < len(times); i++ {
		if times[i].Sub(times[i-maxRetry+1]) < findTime {
			return true
		}
	}
	return false
}

// fileOrder replays events as the file lists them (fixtures mix years).
var fileOrder bool

func compare(name string, evs []secmon.Event, skipped int) result {
	replay := slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b secmon.Event) int { return a.Time.Compare(b.Time) })
	if !fileOrder {
		replay = evs
	}
	times := map[netip.Prefix][]time.Time{}
	for _, e := range evs {
		g := groupOf(e.IP)
		times[g] = append(times[g], e.Time)
	}
	eng, err := detect.New(detect.Config{})
	if err != nil {
		fail(err)
	}
	fs, err := detect.Replay(context.Background(), eng, replay)
	if err != nil {
		fail(err)
	}
	flagged := map[netip.Prefix]int{}
	named := map[netip.Prefix]bool{}
	r := result{name: name, events: len(evs), skipped: skipped, sources: len(times), allFindings: len(fs)}
	for _, f := range fs {
		if rest, ok := strings.CutPrefix(f.Subject, detect.SubjectIP); ok {
			if p, err := netip.ParsePrefix(rest); err == nil {
				flagged[p]++
				r.findings++
			}
			continue
		}
		for _, s := range f.Sources {
			named[s.Group] = true
		}
	}
	for g, ts := range times {
		banned := bans(ts)
		switch {
		case banned && flagged[g] > 0:
			r.tp++
		case banned:
			r.fn++
		case flagged[g] > 0:
			r.fp++
		case named[g]:
			r.namedInSources++
		}
		if banned {
			r.banned++
		}
		r.maxPerSource = max(r.maxPerSource, flagged[g])
	}
	return r
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| log | failure events | sources | fail2ban bans | secmon flags (agree) | missed | flagged below the bar | findings on IP groups (max per source) | all findings |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var tot result
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %d (%d) | %d |\n",
			r.name, r.events, r.sources, r.banned, r.tp, r.fn, r.fp, r.findings, r.maxPerSource, r.allFindings)
		tot.events += r.events
		tot.sources += r.sources
		tot.banned += r.banned
		tot.tp += r.tp
		tot.fn += r.fn
		tot.fp += r.fp
		tot.findings += r.findings
		tot.allFindings += r.allFindings
		tot.skipped += r.skipped
		tot.namedInSources += r.namedInSources
		tot.maxPerSource = max(tot.maxPerSource, r.maxPerSource)
	}
	fmt.Fprintf(w, "| **all %d logs** | %d | %d | %d | %d | %d | %d | %d (%d) | %d |\n",
		len(rs), tot.events, tot.sources, tot.banned, tot.tp, tot.fn, tot.fp, tot.findings, tot.maxPerSource, tot.allFindings)
	fmt.Fprintf(w, "\nAnnotations or lines whose host is no IP address (skipped): %d. Sources below the bar named only in an account-level finding's Sources (never its subject): %d.\n",
		tot.skipped, tot.namedInSources)
}
