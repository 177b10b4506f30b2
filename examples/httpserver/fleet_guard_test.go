package main

// How fast a block reaches the fleet: TestFleet's propagation phase. A
// block is decided on one instance (by detection: five failed logins from
// a /64, all sent to that instance; or by an operator: POST /admin/api/blocks
// there), and each of the other two instances is polled, with requests
// pinned to it, until it refuses the /64. Later the block is lifted on
// another instance (DELETE /admin/api/blocks/{id}) and the two others are
// polled until they let the /64 through again.
//
// The time measured is the instance's own: from the block's Created (or
// its LiftedAt), stamped by the instance that decided it, to the moment
// the polled instance refused (or passed) the first request, as that
// instance recorded it in the security log. A refusal is logged at once as
// an access_blocked event (the first of its window) with the client's
// address, and each instance is polled from an address of its own inside
// the /64, so the event names the instance; a request let through after a
// lift is a failed login, logged with the request's X-Request-ID. The
// client's round trip is therefore not in the figure; what is left is the
// gap between two polls of one instance (the previous poll's answer
// travelling back, the next one travelling out), which the log shows next
// to each figure. All processes run on one machine, so their clocks agree.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// propagationBound is the requirement: a block (or a lift) decided on one
// instance is enforced by every other within a second.
const propagationBound = time.Second

// probeNet is where the propagation probes come from: round r, block k
// uses the /64 2001:db8:b10c:<r*16+k>::/64.
var probeNet = netip.MustParsePrefix("2001:db8:b10c::/48")

// probe64 returns the /64 of round r's block k.
func probe64(r, k int) netip.Prefix {
	a := probeNet.Addr().As16()
	n := r*16 + k
	a[6], a[7] = byte(n>>8), byte(n)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// probeAddr returns host h of the /64 p.
func probeAddr(p netip.Prefix, h uint16) netip.Addr {
	a := p.Addr().As16()
	a[14], a[15] = byte(h>>8), byte(h)
	return netip.AddrFrom16(a)
}

// Hosts inside a probe /64: the guesses that make detection decide, the
// polls of instance i while a block travels (blockHost+i) and while its
// lift travels (liftHost+i).
const (
	guessHost = 0x0100
	blockHost = 0x0b00
	liftHost  = 0x0c00
)

// probeAnswer is one polled request: when it left and when its answer
// came back (the test's clock), its status and its X-Request-ID.
type probeAnswer struct {
	sent, recv time.Time
	code       int
	marker     string
}

// probe sends one request from `from` to in alone (no balancer, no retry
// elsewhere): GET / (a 404 for a request the guard lets through) or, with
// a form, POST /login.
func (f *fleet) probe(in *fleetInstance, from netip.Addr, form url.Values) (probeAnswer, error) {
	base, _ := in.current()
	method, path, body := http.MethodGet, "/", ""
	if form != nil {
		method, path, body = http.MethodPost, "/login", form.Encode()
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return probeAnswer{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	a := probeAnswer{marker: fmt.Sprintf("p%d", f.seq.Add(1))}
	req.Header.Set("X-Forwarded-For", from.String())
	req.Header.Set("User-Agent", "fleet-probe/1.0")
	req.Header.Set(HeaderRequestID, a.marker)
	a.sent = time.Now()
	resp, err := f.hc.Do(req)
	if err != nil {
		return a, err
	}
	resp.Body.Close()
	a.recv, a.code = time.Now(), resp.StatusCode
	return a, nil
}

// poll probes in from `from` until done(status) holds, and returns that
// answer and the one before it (zero when the first answer did). It gives
// up after a minute: an instance that never enforces the change fails the
// test for that, not for slowness.
func (f *fleet) poll(in *fleetInstance, from netip.Addr, form func() url.Values, done func(int) bool) (last, prev probeAnswer, polls int, err error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var fv url.Values
		if form != nil {
			fv = form()
		}
		a, err := f.probe(in, from, fv)
		polls++
		if err != nil {
			return a, prev, polls, fmt.Errorf("%s: %w", in.name, err)
		}
		if done(a.code) {
			return a, prev, polls, nil
		}
		prev = a
		time.Sleep(time.Millisecond)
	}
	return probeAnswer{}, prev, polls, fmt.Errorf("%s: no change within a minute (last status %d)", in.name, prev.code)
}

// propSample is one instance's part of one block or lift.
type propSample struct {
	what     string // "rule block", "manual block", "lift"
	block    uuid.UUID
	subject  netip.Prefix
	decider  int // where it was decided (or lifted)
	inst     int // the instance polled
	from     netip.Addr
	at       time.Time // the block's Created, or its LiftedAt
	first    probeAnswer
	prev     probeAnswer
	polls    int
	seen     time.Time     // when the polled instance refused (or passed) first, by its own clock
	lag      time.Duration // seen − at
	syncLag  float64       // the polled guard's secmon_guard_sync_lag_seconds right after (blocks), -1 when unread
	pollsGap time.Duration // from the previous poll's departure to the first changed answer's arrival: the measurement's resolution
}

// propagation runs rounds of the propagation phase: in each, one block
// decided by detection on every instance, one manual block on every
// instance, and the lift of each manual block on the next instance. It
// returns the samples, their server-side times still to be read (see
// resolvePropagation).
func (f *fleet) propagation(rounds int) ([]propSample, error) {
	var samples []propSample
	n := len(f.instances)
	for r := range rounds {
		for d := range n {
			// Detection: five failed logins for unknown accounts from five
			// addresses of the /64, all to instance d: brute_force_ip (5
			// failures of one IP group within 10 minutes) fires there.
			p := probe64(r, d)
			decider := f.instances[d]
			for g := range 5 {
				a, err := f.probe(decider, probeAddr(p, guessHost+uint16(g)), url.Values{"user": {fmt.Sprintf("probe-%d-%d-%d", r, d, g)}, "password": {"x"}})
				if err != nil {
					return samples, err
				}
				if a.code != http.StatusUnauthorized {
					return samples, fmt.Errorf("guess %d from %s on %s: %d, want 401", g, p, decider.name, a.code)
				}
			}
			got, err := f.blockReaches("rule block", p, d, uuid.Nil, time.Time{})
			samples = append(samples, got...)
			if err != nil {
				return samples, err
			}
		}
		for d := range n {
			// An operator blocks another /64 on instance d, and lifts it on
			// the next one.
			p := probe64(r, n+d)
			id, created, err := f.adminBlock(f.instances[d], p)
			if err != nil {
				return samples, err
			}
			got, err := f.blockReaches("manual block", p, d, id, created)
			samples = append(samples, got...)
			if err != nil {
				return samples, err
			}
			got, err = f.liftReaches(p, id, (d+1)%n)
			samples = append(samples, got...)
			if err != nil {
				return samples, err
			}
		}
	}
	return samples, nil
}

// pollOthers runs probe for every instance but skip, concurrently, and
// returns every sample, in the order they finished, with their errors
// joined.
func (f *fleet) pollOthers(skip int, probe func(i int, in *fleetInstance) (propSample, error)) ([]propSample, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples []propSample
		errs    []error
	)
	for i, in := range f.instances {
		if i == skip {
			continue
		}
		wg.Go(func() {
			s, err := probe(i, in)
			mu.Lock()
			defer mu.Unlock()
			samples = append(samples, s)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return samples, errors.Join(errs...)
}

// blockReaches polls every instance but decider, concurrently, until each
// refuses the /64 p, and reads the block's ID and Created from the store
// when they are not known yet (a rule's block).
func (f *fleet) blockReaches(what string, p netip.Prefix, decider int, id uuid.UUID, created time.Time) ([]propSample, error) {
	samples, err := f.pollOthers(decider, func(i int, in *fleetInstance) (propSample, error) {
		from := probeAddr(p, blockHost+uint16(i))
		first, prev, polls, err := f.poll(in, from, nil, func(code int) bool { return code == http.StatusForbidden })
		s := propSample{what: what, subject: p, decider: decider, inst: i, from: from, first: first, prev: prev, polls: polls, syncLag: -1}
		if err != nil {
			return s, fmt.Errorf("%s decided on %s: %w", what, f.instances[decider].name, err)
		}
		// The guard's own figure for the block it heard of last: from its
		// Created to enforced here.
		if m, serr := f.scrape(in); serr == nil {
			if v, ok := m["secmon_guard_sync_lag_seconds"]; ok {
				s.syncLag = v
			}
		}
		return s, nil
	})
	if err != nil {
		return samples, err
	}
	if id == uuid.Nil {
		id, created, err = f.storedBlock(p)
		if err != nil {
			return samples, err
		}
	}
	for i := range samples {
		samples[i].block, samples[i].at = id, created
	}
	return samples, nil
}

// liftReaches lifts block id on instance lifter and polls every other
// instance, concurrently, until each lets the /64 p through again: a
// failed login for an unknown account (401), logged with its request ID.
func (f *fleet) liftReaches(p netip.Prefix, id uuid.UUID, lifter int) ([]propSample, error) {
	if err := f.adminLift(f.instances[lifter], id); err != nil {
		return nil, err
	}
	samples, err := f.pollOthers(lifter, func(i int, in *fleetInstance) (propSample, error) {
		from := probeAddr(p, liftHost+uint16(i))
		form := func() url.Values { return url.Values{"user": {"probe-lift-" + id.String()[:8]}, "password": {"x"}} }
		first, prev, polls, err := f.poll(in, from, form, func(code int) bool { return code != http.StatusForbidden })
		if err == nil && first.code != http.StatusUnauthorized {
			err = fmt.Errorf("%s: the first request let through after the lift got %d, want 401", in.name, first.code)
		}
		s := propSample{what: "lift", block: id, subject: p, decider: lifter, inst: i, from: from,
			first: first, prev: prev, polls: polls, syncLag: -1}
		if err != nil {
			return s, fmt.Errorf("lift on %s: %w", f.instances[lifter].name, err)
		}
		return s, nil
	})
	if err != nil {
		return samples, err
	}
	// LiftedAt is stamped by the lifting guard and written in the
	// background: read it once it is stored.
	var lifted time.Time
	err = f.waitRow(func(ctx context.Context) (bool, error) {
		var at *time.Time
		err := f.direct.QueryRow(ctx, `SELECT lifted_at FROM `+f.schema+`.blocks WHERE id = $1`, id).Scan(&at)
		if at != nil {
			lifted = *at
		}
		return at != nil, err
	})
	if err != nil {
		return samples, fmt.Errorf("lifted_at of %s: %w", id, err)
	}
	for i := range samples {
		samples[i].at = lifted
	}
	return samples, nil
}

// storedBlock waits for the block on p to be in the store and returns its
// ID and Created.
func (f *fleet) storedBlock(p netip.Prefix) (uuid.UUID, time.Time, error) {
	var (
		id      uuid.UUID
		created time.Time
	)
	err := f.waitRow(func(ctx context.Context) (bool, error) {
		err := f.direct.QueryRow(ctx, `SELECT id, created_at FROM `+f.schema+`.blocks WHERE prefix = $1 ORDER BY created_at LIMIT 1`, p).
			Scan((*[16]byte)(&id), &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return id, created, fmt.Errorf("block on %s: %w", p, err)
	}
	return id, created, nil
}

// waitRow runs q until it reports true, for at most a minute.
func (f *fleet) waitRow(q func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		ok, err := q(ctx)
		if ok || (err != nil && !errors.Is(err, pgx.ErrNoRows)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// adminBlock blocks p through in's admin API, for ten minutes, and
// returns the block's ID and Created as the API answered them.
func (f *fleet) adminBlock(in *fleetInstance, p netip.Prefix) (uuid.UUID, time.Time, error) {
	base, _ := in.current()
	body := fmt.Sprintf(`{"prefix":%q,"reason":"fleet propagation probe","by":"fleet-test","duration_s":600}`, p.String())
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/api/blocks", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fleetAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.hc.Do(req)
	if err != nil {
		return uuid.Nil, time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return uuid.Nil, time.Time{}, fmt.Errorf("POST /admin/api/blocks on %s: %s", in.name, resp.Status)
	}
	var b blockJSON
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return uuid.Nil, time.Time{}, err
	}
	id, err := uuid.Parse(b.ID)
	if err != nil || b.Created.IsZero() {
		return uuid.Nil, time.Time{}, fmt.Errorf("POST /admin/api/blocks on %s: block %+v", in.name, b)
	}
	return id, b.Created, nil
}

// adminLift lifts block id through in's admin API.
func (f *fleet) adminLift(in *fleetInstance, id uuid.UUID) error {
	base, _ := in.current()
	req, _ := http.NewRequest(http.MethodDelete, base+"/admin/api/blocks/"+id.String()+"?by=fleet-test", nil)
	req.Header.Set("Authorization", "Bearer "+fleetAdminToken)
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("DELETE /admin/api/blocks on %s: %s", in.name, resp.Status)
	}
	return nil
}

// resolvePropagation reads, from the security log, when each polled
// instance refused (access_blocked, the first of its window, by the
// instance's own address in the /64) or let through (the failed login of
// the first request passed, by its request ID), once the Monitors have
// written them, and sets each sample's seen and lag.
func (f *fleet) resolvePropagation(samples []propSample) error {
	for i := range samples {
		s := &samples[i]
		err := f.waitRow(func(ctx context.Context) (bool, error) {
			var at *time.Time
			var err error
			if s.what == "lift" {
				err = f.direct.QueryRow(ctx, `SELECT min(created_at) FROM `+f.schema+`.security_events
 WHERE type = 'login_failure' AND metadata->>'request_id' = $1`, s.first.marker).Scan(&at)
			} else {
				err = f.direct.QueryRow(ctx, `SELECT min(created_at) FROM `+f.schema+`.security_events
 WHERE type = 'access_blocked' AND metadata->>'block_id' = $1 AND ip = $2`, s.block.String(), s.from).Scan(&at)
			}
			if at != nil {
				s.seen = *at
			}
			return at != nil, err
		})
		if err != nil {
			return fmt.Errorf("%s of %s on i%d: its event: %w", s.what, s.subject, s.inst, err)
		}
		s.lag = s.seen.Sub(s.at)
		if !s.prev.sent.IsZero() {
			s.pollsGap = s.first.recv.Sub(s.prev.sent)
		} else {
			s.pollsGap = s.first.recv.Sub(s.first.sent)
		}
	}
	return nil
}

// propSummary is the p50 and the max of some samples' lags.
type propSummary struct {
	n         int
	p50, max  time.Duration
	gap       time.Duration // the widest poll gap among them
	guardP50  time.Duration // the polled guards' own sync lag (blocks only)
	guardMax  time.Duration
	guardSeen int
}

func summarize(samples []propSample, keep func(*propSample) bool) propSummary {
	var lags, guard []time.Duration
	var s propSummary
	for i := range samples {
		if !keep(&samples[i]) {
			continue
		}
		lags = append(lags, samples[i].lag)
		s.gap = max(s.gap, samples[i].pollsGap)
		if samples[i].syncLag >= 0 {
			guard = append(guard, time.Duration(samples[i].syncLag*float64(time.Second)))
		}
	}
	s.n, s.p50, s.max = len(lags), median(lags), slices.Max(append(lags, 0))
	s.guardSeen, s.guardP50, s.guardMax = len(guard), median(guard), slices.Max(append(guard, 0))
	return s
}

// median returns the middle value (the lower of the two middle ones for
// an even count), 0 for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

func (s propSummary) String() string {
	out := fmt.Sprintf("%d: p50 %s, max %s (widest poll gap %s)", s.n, ms(s.p50), ms(s.max), ms(s.gap))
	if s.guardSeen > 0 {
		out += fmt.Sprintf("; the guards' own sync lag p50 %s, max %s", ms(s.guardP50), ms(s.guardMax))
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// checkPropagation reads when each polled instance refused or passed
// first, logs every sample, and asserts the requirement: each block and
// each lift enforced by every other instance within propagationBound of
// its decision. It also checks that the refusal it read is the first
// refused poll's own (a refusal logged outside that request's flight
// would mean the event belongs to another request).
func (f *fleet) checkPropagation(t *testing.T, samples []propSample, rounds int, res *fleetResult) {
	t.Helper()
	if err := f.resolvePropagation(samples); err != nil {
		t.Errorf("propagation: %v", err)
		return
	}
	if want := rounds * len(f.instances) * 3 * (len(f.instances) - 1); len(samples) != want {
		t.Errorf("propagation: %d samples, want %d", len(samples), want)
	}
	const slack = 5 * time.Millisecond // timestamps in microseconds, clocks of one machine
	for _, s := range samples {
		t.Logf("propagation: %s %s (block %s) from i%d to i%d: %s (%d polls, gap %s, the guard's own sync lag %s)",
			s.what, s.subject, s.block, s.decider, s.inst, ms(s.lag), s.polls, ms(s.pollsGap), guardLag(s.syncLag))
		if s.seen.Before(s.first.sent.Add(-slack)) || s.seen.After(s.first.recv.Add(slack)) {
			t.Errorf("propagation: %s of %s on i%d logged at %s, outside its request's flight [%s, %s]",
				s.what, s.subject, s.inst, s.seen.Format(time.StampMicro), s.first.sent.Format(time.StampMicro), s.first.recv.Format(time.StampMicro))
		}
		if s.lag > propagationBound {
			t.Errorf("propagation: %s of %s decided on i%d reached i%d after %s, want at most %s",
				s.what, s.subject, s.decider, s.inst, ms(s.lag), propagationBound)
		}
	}
	res.propRule = summarize(samples, func(s *propSample) bool { return s.what == "rule block" })
	res.propManual = summarize(samples, func(s *propSample) bool { return s.what == "manual block" })
	res.propBlocks = summarize(samples, func(s *propSample) bool { return s.what != "lift" })
	res.propLifts = summarize(samples, func(s *propSample) bool { return s.what == "lift" })
	t.Logf("propagation, from the deciding instance to each other one (bound %s): rule blocks %v; manual blocks %v; all blocks %v; lifts %v",
		propagationBound, res.propRule, res.propManual, res.propBlocks, res.propLifts)
}

func guardLag(v float64) string {
	if v < 0 {
		return "unread"
	}
	return ms(time.Duration(v * float64(time.Second)))
}
