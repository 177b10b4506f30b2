package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/detect"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxBlocks      = 100_000
	DefaultMaxHistory     = 100_000
	DefaultResync         = time.Minute
	DefaultPoll           = time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultFindingQueue   = 1024
	DefaultAccessWindow   = time.Minute
	DefaultAccessSubjects = 10_000
	DefaultHistory        = secmon.DefaultBlockRetention
)

// maxCapacity bounds every size a Config may ask for.
const maxCapacity = 10_000_000

// DefaultAllowlist holds the addresses every Guard allowlists unless
// Config.NoDefaultAllowlist is set: the loopback networks, so that a
// health check or a sidecar on the host itself is never refused.
var DefaultAllowlist = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// Config configures a Guard. Zero fields mean the documented defaults; a
// negative size or duration, an invalid policy or list, or a nil Store
// makes New return an error.
type Config struct {
	// Store holds the blocks every instance enforces. Required: a
	// memstore.Store for one process, a pgstore.Store for a fleet. A
	// store that implements secmon.BlockSubscriber (both do) tells the
	// guard of every change at once; others are polled every
	// PollInterval.
	Store secmon.BlockStore
	// Events receives the guard's security events: ip_blocked for every
	// block decided (any scope, rule or manual), block_lifted for every
	// lift, access_blocked for refused requests (one per subject and
	// AccessWindow, with the count). Normally the host's *secmon.Monitor,
	// which is made after the Guard (it takes the Guard as a
	// FindingHandler) and so is usually given with SetEvents instead.
	// Nil means none are logged. The guard never calls it while holding a
	// lock, and never from Check.
	Events secmon.Logger
	// Policies maps rule names to how their findings become blocks. Nil
	// means DefaultPolicies(); a non-nil map replaces them (start from
	// DefaultPolicies() to change one).
	Policies map[secmon.RuleName]Policy
	// Unlisted says what to do with findings of rules without a Policy;
	// default UnlistedSuggested.
	Unlisted UnlistedMode
	// DryRun turns every rule's automatic response into a dry run: what
	// would be blocked is logged (Logger) and counted in Stats.WouldBlock,
	// nothing is blocked. Manual blocks and lists are not affected.
	DryRun bool
	// Allowlist holds addresses never refused and never blocked: the
	// host's proxies and load balancers, office ranges, health checkers. A
	// block whose prefix lies inside an allowlisted prefix is refused
	// (ErrAllowlisted, counted in Stats.RefusedAllowlist); a wider block
	// that merely holds allowlisted addresses is kept, and Check never
	// refuses those addresses. DefaultAllowlist (loopback) is added unless
	// NoDefaultAllowlist is set.
	Allowlist          []netip.Prefix
	NoDefaultAllowlist bool
	// AllowUsers holds accounts never blocked (service accounts, break-
	// glass administrators), compared as detect.UserKey compares them.
	AllowUsers []string
	// CaseSensitiveUsers must match detect.Config.CaseSensitiveUsers: user
	// blocks and Check's userID are compared through detect.UserKey.
	CaseSensitiveUsers bool
	// History is how far back escalation looks: a subject whose previous
	// block was decided within it gets the next level. Default
	// DefaultHistory (secmon.DefaultBlockRetention); keep it within the
	// store's RetentionPolicy.Blocks, which purges older history.
	History time.Duration
	// MaxBlocks bounds the blocks in force held in memory (lists are
	// counted apart, in MaxListPrefixes); a block beyond it is refused and
	// counted in Stats.RefusedCapacity. Default DefaultMaxBlocks. Blocks
	// decided while the store is unreachable wait to be written; at most
	// 2×MaxBlocks may wait, beyond which new blocks are refused too.
	MaxBlocks int
	// MaxHistory bounds the subjects whose last block level is remembered
	// for escalation; default DefaultMaxHistory.
	MaxHistory int
	// Lists are the reputation lists loaded from files at New and reloaded
	// when they change. More can be loaded with LoadList.
	Lists []ListConfig
	// MaxListPrefixes bounds the prefixes of all lists together; a list
	// that would exceed it is refused (the previous version, if any,
	// stays). Default DefaultMaxListPrefixes.
	MaxListPrefixes int
	// ListPoll is how often list files are checked for changes; default
	// DefaultListPoll.
	ListPoll time.Duration
	// ListMinBits4 and ListMinBits6 are the shortest prefixes a list may
	// hold; defaults DefaultMinBits4 and DefaultMinBits6.
	ListMinBits4, ListMinBits6 int
	// ResyncInterval is how often every block in force is read again from
	// the store, the safety net behind the store's announcements; default
	// DefaultResync.
	ResyncInterval time.Duration
	// PollInterval is how often a store that announces nothing is read;
	// default DefaultPoll.
	PollInterval time.Duration
	// WriteTimeout bounds each store call; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries while the
	// store fails; defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// FindingQueue bounds the findings waiting to be decided; a finding
	// that finds it full is dropped and counted in Stats.FindingsDropped.
	// Default DefaultFindingQueue.
	FindingQueue int
	// AccessWindow is how often, at most, an access_blocked event is
	// logged per blocked subject (per list and client IP group for list
	// matches); refusals in between are counted into the next event.
	// Default DefaultAccessWindow.
	AccessWindow time.Duration
	// MaxAccessSubjects bounds the subjects whose refusals are being
	// counted; refusals of further subjects are not logged, only counted
	// in Stats.AccessDropped. Default DefaultAccessSubjects.
	MaxAccessSubjects int
	// Privacy is the Monitor's privacy policy, when it masks addresses:
	// the detection rules then see masked addresses, and the guard maps
	// their subjects back to what it can block. Under IPTruncate a
	// finding about an IP group blocks its truncated network (an IPv4 /24,
	// an IPv6 /48); under IPHash nothing can be mapped back, so findings
	// about IP groups block nothing (Stats.RefusedUnmappable).
	Privacy *secmon.PrivacyPolicy
	// Clock tells the time; nil means the system clock.
	Clock secmon.Clock
	// Logger receives the guard's diagnostics (refusals, dry runs, store
	// failures), rate limited; nil means silent.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("guard: Config.Store is required")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"History", &c.History, DefaultHistory},
		{"ListPoll", &c.ListPoll, DefaultListPoll},
		{"ResyncInterval", &c.ResyncInterval, DefaultResync},
		{"PollInterval", &c.PollInterval, DefaultPoll},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"MinBackoff", &c.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &c.MaxBackoff, DefaultMaxBackoff},
		{"AccessWindow", &c.AccessWindow, DefaultAccessWindow},
	} {
		if *d.v < 0 {
			return fmt.Errorf("guard: Config.%s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MinBackoff > c.MaxBackoff {
		return errors.New("guard: Config.MinBackoff exceeds MaxBackoff")
	}
	for _, s := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxBlocks", &c.MaxBlocks, DefaultMaxBlocks},
		{"MaxHistory", &c.MaxHistory, DefaultMaxHistory},
		{"MaxListPrefixes", &c.MaxListPrefixes, DefaultMaxListPrefixes},
		{"FindingQueue", &c.FindingQueue, DefaultFindingQueue},
		{"MaxAccessSubjects", &c.MaxAccessSubjects, DefaultAccessSubjects},
		{"ListMinBits4", &c.ListMinBits4, DefaultMinBits4},
		{"ListMinBits6", &c.ListMinBits6, DefaultMinBits6},
	} {
		if *s.v < 0 {
			return fmt.Errorf("guard: Config.%s is negative", s.name)
		}
		if *s.v > maxCapacity {
			return fmt.Errorf("guard: Config.%s exceeds %d", s.name, maxCapacity)
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	if c.ListMinBits4 > 32 || c.ListMinBits6 > 128 {
		return errors.New("guard: Config.ListMinBits4 or ListMinBits6 is longer than an address")
	}
	if c.Policies == nil {
		c.Policies = DefaultPolicies()
	}
	for name, p := range c.Policies {
		if err := p.validate(string(name)); err != nil {
			return err
		}
	}
	if c.Unlisted > UnlistedIgnore {
		return errors.New("guard: Config.Unlisted is unknown")
	}
	for i, p := range c.Allowlist {
		if !p.IsValid() {
			return fmt.Errorf("guard: Config.Allowlist[%d] is not a valid prefix", i)
		}
	}
	names := map[string]bool{}
	for _, l := range c.Lists {
		if err := l.validate(); err != nil {
			return err
		}
		if l.Path == "" {
			return fmt.Errorf("guard: list %s has no Path (load lists from readers with LoadList)", l.Name)
		}
		if names[l.Name] {
			return fmt.Errorf("guard: list %s is configured twice", l.Name)
		}
		names[l.Name] = true
	}
	if err := c.Privacy.Validate(); err != nil {
		return fmt.Errorf("guard: Config.Privacy: %w", err)
	}
	if c.Clock == nil {
		c.Clock = secmon.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Errors callers branch on.
var (
	// ErrAllowlisted matches the *AllowlistedError of a block refused
	// because its subject is allowlisted.
	ErrAllowlisted = errors.New("guard: subject is allowlisted")
	// ErrCapacity is returned when a block would exceed Config.MaxBlocks
	// (or too many blocks wait to be written).
	ErrCapacity = errors.New("guard: too many blocks")
)

// AllowlistedError reports a block refused because the allowlist covers
// its subject. It matches ErrAllowlisted with errors.Is.
type AllowlistedError struct {
	Subject string       // the block's subject
	By      netip.Prefix // the allowlisted prefix that covers it; zero for an allowlisted account
}

// Error names the subject and the allowlist entry.
func (e *AllowlistedError) Error() string {
	if e.By.IsValid() {
		return "guard: " + e.Subject + " is allowlisted (" + e.By.String() + ")"
	}
	return "guard: " + e.Subject + " is allowlisted"
}

// Unwrap returns ErrAllowlisted.
func (e *AllowlistedError) Unwrap() error { return ErrAllowlisted }

// Guard is the active response: it turns findings into blocks by policy,
// takes manual blocks and lifts, loads reputation lists, keeps every block
// in force in an in-memory snapshot that Check reads without locking, and
// keeps that snapshot in step with the store every instance shares.
//
// Decisions are enforced locally at once: a finding handed over by the
// Monitor is decided on the guard's own goroutine within microseconds, and
// the new snapshot is published before the block is written. Writes go to
// the store in the background, retried with backoff while it fails, so a
// store outage loses no block; meanwhile the guard enforces what it had and
// what it decided. Other instances hear of the block through the store's
// announcements (PostgreSQL NOTIFY) and read it, within a second; a full
// read at start, after every reconnect and every ResyncInterval catches
// whatever an announcement missed.
//
// A Guard must be created with New and released with Close. All methods
// are safe for concurrent use.
type Guard struct {
	cfg      Config
	store    secmon.BlockStore
	clock    secmon.Clock
	log      *slog.Logger
	policies map[secmon.RuleName]Policy

	snap   atomic.Pointer[snapshot]
	events atomic.Pointer[eventsRef]

	mu         sync.Mutex
	blocks     map[uuid.UUID]*secmon.Block // blocks known not to have ended (as of their last change)
	subjects   map[string][]uuid.UUID      // the IDs in blocks, by subject
	pending    map[uuid.UUID]*pendingWrite // local versions not yet written
	hist       map[string]histRec          // subject → its latest block, for escalation
	histSwept  time.Time
	nextEnd    time.Time // earliest End among blocks; zero when none ends
	lists      map[string]*listState
	listTotal  int // prefixes of all lists
	allow      []netip.Prefix
	allowUsers map[string]bool
	// lastSync is when the blocks read by the latest full resync were read.
	lastSync time.Time

	access accessLog

	findings   chan secmon.Finding
	findQueued atomic.Uint64
	findDone   atomic.Uint64

	ids      chan uuid.UUID
	resyncCh chan struct{}
	kickW    chan struct{}

	progressMu sync.Mutex
	progress   chan struct{} // closed and replaced when a decision or a write completes

	ready     chan struct{}
	readyOnce sync.Once

	bg       context.Context // store calls; cancelled when Close gives up
	bgCancel context.CancelFunc
	subCtx   context.Context // the subscription; cancelled by Close
	subStop  context.CancelFunc
	stop     chan struct{}
	closed   atomic.Bool
	once     sync.Once
	wg       sync.WaitGroup

	checks, refusals, listRefusals checkCounters // sharded: Check runs on every request
	allowExempt                    atomic.Uint64
	st                             counters
	lastErr                        atomic.Pointer[errRecord]
	logAt                          atomic.Int64 // wall clock of the last rate-limited log line
	subscribed                     bool
}

type counters struct {
	decided, manual, lifted                                atomic.Uint64
	refusedAllow, refusedCap, refusedUnmappable, already   atomic.Uint64
	wouldBlock                                             atomic.Uint64
	findingsReceived, findingsIgnored, findingsDropped     atomic.Uint64
	written, writeErrors, rejected                         atomic.Uint64
	resyncs, syncErrors, notifications                     atomic.Uint64
	lastLag, maxLag                                        atomic.Int64
	accessEvents, accessFolded, accessDropped, eventErrors atomic.Uint64
	listReloads, listErrors                                atomic.Uint64
}

type eventsRef struct{ l secmon.Logger }

type errRecord struct {
	msg string
	at  time.Time
}

type pendingWrite struct {
	b   *secmon.Block
	ver uint64
}

type histRec struct {
	level   int
	created time.Time
	id      uuid.UUID
}

type listState struct {
	cfg      ListConfig
	ref      *listRef
	prefixes []netip.Prefix
	stats    ListStats
	file     fileVersion
	checked  time.Time
}

var (
	_ secmon.Guard          = (*Guard)(nil)
	_ secmon.FindingHandler = (*Guard)(nil)
)

// New returns a running Guard. It starts its goroutines (deciding
// findings, writing blocks, following the store), loads the configured
// list files (a file that cannot be read yet is retried at every
// ListPoll) and begins reading the blocks in force from the store; Ready
// reports when that first read has succeeded. New itself does no I/O on
// the store.
func New(cfg Config) (*Guard, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	g := &Guard{
		cfg:        cfg,
		store:      cfg.Store,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		policies:   make(map[secmon.RuleName]Policy, len(cfg.Policies)),
		blocks:     make(map[uuid.UUID]*secmon.Block),
		subjects:   make(map[string][]uuid.UUID),
		pending:    make(map[uuid.UUID]*pendingWrite),
		hist:       make(map[string]histRec),
		lists:      make(map[string]*listState),
		allowUsers: make(map[string]bool),
		findings:   make(chan secmon.Finding, cfg.FindingQueue),
		ids:        make(chan uuid.UUID, 4096),
		resyncCh:   make(chan struct{}, 1),
		kickW:      make(chan struct{}, 1),
		progress:   make(chan struct{}),
		ready:      make(chan struct{}),
		stop:       make(chan struct{}),
	}
	for name, p := range cfg.Policies {
		g.policies[name] = p.withDefaults()
	}
	if !cfg.NoDefaultAllowlist {
		g.allow = append(g.allow, DefaultAllowlist...)
	}
	for _, p := range cfg.Allowlist {
		g.allow = append(g.allow, normPrefix(p))
	}
	for _, u := range cfg.AllowUsers {
		if k := detect.UserKey(u, cfg.CaseSensitiveUsers); k != "" {
			g.allowUsers[k] = true
		}
	}
	g.access.init(cfg.MaxAccessSubjects)
	g.SetEvents(cfg.Events)
	g.bg, g.bgCancel = context.WithCancel(context.Background())
	g.subCtx, g.subStop = context.WithCancel(g.bg)
	g.mu.Lock()
	g.rebuildLocked()
	g.mu.Unlock()
	for _, l := range cfg.Lists {
		if _, err := g.loadListFile(l); err != nil {
			g.warn("guard: list not loaded; retrying when the file changes", slog.String("list", l.Name), slog.Any("error", err))
		}
	}
	sub, ok := cfg.Store.(secmon.BlockSubscriber)
	g.subscribed = ok
	g.wg.Add(3)
	go g.runDecider()
	go g.runWriter()
	go g.runSync()
	if ok {
		g.wg.Add(1)
		go g.runSubscription(sub)
	}
	return g, nil
}

// normPrefix unmaps an IPv4-mapped prefix and masks it.
func normPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
}

// now is the clock's time as the stores keep it: wall clock, UTC,
// microseconds.
func (g *Guard) now() time.Time {
	return g.clock.Now().UTC().Round(0).Truncate(time.Microsecond)
}

func (g *Guard) setErr(err error) {
	g.lastErr.Store(&errRecord{msg: err.Error(), at: g.clock.Now()})
}

// warn logs at most one line per second (Stats counts everything).
func (g *Guard) warn(msg string, attrs ...slog.Attr) {
	now := time.Now().UnixNano()
	last := g.logAt.Load()
	if now-last < int64(time.Second) || !g.logAt.CompareAndSwap(last, now) {
		return
	}
	g.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// SetEvents makes l receive the guard's security events from now on (see
// Config.Events); nil stops them. It is safe to call at any time.
func (g *Guard) SetEvents(l secmon.Logger) {
	if l == nil {
		g.events.Store(nil)
		return
	}
	g.events.Store(&eventsRef{l})
}

// HandleFinding implements secmon.FindingHandler: it queues f for the
// guard's decider and returns at once, never waiting; a full queue drops
// the finding (Stats.FindingsDropped). Pass the Guard in
// secmon.Config.FindingHandlers.
func (g *Guard) HandleFinding(f secmon.Finding) {
	if g.closed.Load() {
		g.st.findingsDropped.Add(1)
		return
	}
	select {
	case g.findings <- f:
		g.findQueued.Add(1)
	default:
		g.st.findingsDropped.Add(1)
		g.setErr(errors.New("guard: finding queue full; finding dropped"))
		g.warn("guard: finding queue full; finding dropped", slog.String("rule", string(f.Rule)))
	}
}

// signal wakes Flush callers waiting for progress.
func (g *Guard) signal() {
	g.progressMu.Lock()
	close(g.progress)
	g.progress = make(chan struct{})
	g.progressMu.Unlock()
}

func (g *Guard) progressCh() <-chan struct{} {
	g.progressMu.Lock()
	defer g.progressMu.Unlock()
	return g.progress
}

func (g *Guard) kickWriter() {
	select {
	case g.kickW <- struct{}{}:
	default:
	}
}

// Flush waits until every finding handed over before the call has been
// decided (and, if it became a block, is enforced here) and every block
// and lift decided so far has been written to the store, or until ctx
// ends. While the store fails, Flush keeps waiting: the writes are retried
// with backoff.
func (g *Guard) Flush(ctx context.Context) error {
	target := g.findQueued.Load()
	for {
		ch := g.progressCh()
		if g.findDone.Load() >= target || g.closed.Load() {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.kickWriter()
	for {
		ch := g.progressCh()
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ready waits until the guard has read the blocks in force from the store
// once, or until ctx ends. Until then it enforces only what it decided
// itself and its lists; a host may wait for Ready before serving.
func (g *Guard) Ready(ctx context.Context) error {
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the guard: findings already queued are decided, blocks and
// lifts not yet written are written (retried until ctx ends), counted
// refusals still owed an access_blocked event are logged, and the
// goroutines stop. If ctx ends first, Close returns an error naming how
// many blocks were left unwritten. Check keeps answering from the last
// snapshot after Close; Block, Lift and LoadList return secmon.ErrClosed.
// Close is idempotent.
func (g *Guard) Close(ctx context.Context) error {
	g.once.Do(func() {
		g.closed.Store(true)
		g.subStop()
		close(g.stop)
	})
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		g.bgCancel()
		<-done
	}
	g.bgCancel()
	g.mu.Lock()
	n := len(g.pending)
	g.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("guard: closed with %d blocks or lifts not written to the store: %w", n, ctx.Err())
	}
	return nil
}

// Stats is a snapshot of the guard's counters. Counters only grow; the
// gauges (BlocksActive, PendingWrites, ListPrefixes) are current values.
type Stats struct {
	Checks          uint64 // Check calls (the middleware's included)
	Refusals        uint64 // Check calls that found a block in force (list matches included)
	ListRefusals    uint64 // of which matched a blocking list
	AllowlistExempt uint64 // Check calls where a block matched an allowlisted address, which passed

	BlocksActive  int    // blocks in force held (IP groups, prefixes, accounts), lists apart
	BlocksDecided uint64 // blocks decided from findings
	BlocksManual  uint64 // blocks added with Block
	BlocksLifted  uint64 // lifts made with Lift

	RefusedAllowlist  uint64 // blocks not made because the subject is allowlisted
	RefusedCapacity   uint64 // blocks not made or not loaded because MaxBlocks was reached
	RefusedUnmappable uint64 // findings whose masked addresses (Config.Privacy) could not be blocked
	AlreadyBlocked    uint64 // findings about a subject already blocked
	WouldBlock        uint64 // blocks a dry run did not make

	FindingsReceived uint64 // findings decided
	FindingsIgnored  uint64 // findings no policy acts on (disabled, below MinSeverity, no block suggested, nothing to block)
	FindingsDropped  uint64 // findings dropped because the queue was full or the guard closed

	PendingWrites  int    // blocks and lifts waiting to be written to the store
	BlocksWritten  uint64 // blocks and lifts the store accepted
	WriteErrors    uint64 // failed store writes (retried)
	WritesRejected uint64 // blocks the store refused as invalid (dropped and logged)
	Resyncs        uint64 // full reads of the blocks in force
	SyncErrors     uint64 // failed store reads (retried)
	Notifications  uint64 // block IDs the store announced
	LastSync       time.Time
	LastSyncLag    time.Duration // for the latest block heard of from another instance: from its Created to enforced here
	MaxSyncLag     time.Duration // the longest such lag so far (clock skew between instances included)
	ListPrefixes   int           // prefixes of all lists
	Lists          []ListStats   // one per loaded list, by name
	ListReloads    uint64        // list (re)loads swapped in
	ListErrors     uint64        // list loads that failed (the previous version stays)
	AccessEvents   uint64        // access_blocked events logged
	AccessFolded   uint64        // refusals counted into an access_blocked event rather than logged alone
	AccessDropped  uint64        // refusals not logged because MaxAccessSubjects subjects were being counted
	EventErrors    uint64        // security events the Events logger refused (queue full, closed)
	LastError      string
	LastErrorTime  time.Time
}

// Stats returns a snapshot of the counters. It is safe to call at any
// time, also after Close.
func (g *Guard) Stats() Stats {
	s := &g.st
	out := Stats{
		Checks:            g.checks.load(),
		Refusals:          g.refusals.load(),
		ListRefusals:      g.listRefusals.load(),
		AllowlistExempt:   g.allowExempt.Load(),
		BlocksDecided:     s.decided.Load(),
		BlocksManual:      s.manual.Load(),
		BlocksLifted:      s.lifted.Load(),
		RefusedAllowlist:  s.refusedAllow.Load(),
		RefusedCapacity:   s.refusedCap.Load(),
		RefusedUnmappable: s.refusedUnmappable.Load(),
		AlreadyBlocked:    s.already.Load(),
		WouldBlock:        s.wouldBlock.Load(),
		FindingsReceived:  s.findingsReceived.Load(),
		FindingsIgnored:   s.findingsIgnored.Load(),
		FindingsDropped:   s.findingsDropped.Load(),
		BlocksWritten:     s.written.Load(),
		WriteErrors:       s.writeErrors.Load(),
		WritesRejected:    s.rejected.Load(),
		Resyncs:           s.resyncs.Load(),
		SyncErrors:        s.syncErrors.Load(),
		Notifications:     s.notifications.Load(),
		LastSyncLag:       time.Duration(s.lastLag.Load()),
		MaxSyncLag:        time.Duration(s.maxLag.Load()),
		ListReloads:       s.listReloads.Load(),
		ListErrors:        s.listErrors.Load(),
		AccessEvents:      s.accessEvents.Load(),
		AccessFolded:      s.accessFolded.Load(),
		AccessDropped:     s.accessDropped.Load(),
		EventErrors:       s.eventErrors.Load(),
	}
	if r := g.lastErr.Load(); r != nil {
		out.LastError, out.LastErrorTime = r.msg, r.at
	}
	g.mu.Lock()
	out.BlocksActive = len(g.blocks)
	out.PendingWrites = len(g.pending)
	out.ListPrefixes = g.listTotal
	out.LastSync = g.lastSync
	for _, l := range g.lists {
		out.Lists = append(out.Lists, l.stats)
	}
	g.mu.Unlock()
	sortLists(out.Lists)
	return out
}

// newTable returns an empty prefix table.
func newTable[V any]() *bart.Table[V] { return new(bart.Table[V]) }
