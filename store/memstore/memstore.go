package memstore

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
)

// Default bounds used for zero Config fields.
const (
	DefaultMaxEvents        = 1_000_000
	DefaultMaxSessions      = 1_000_000
	DefaultMaxActivities    = 1_000_000
	DefaultMaxAlerts        = 100_000
	DefaultMaxBlocks        = 100_000
	DefaultSubscriberBuffer = 1024
)

// Config bounds a Store. Zero fields mean the documented defaults; negative
// fields are an error from NewWithConfig.
type Config struct {
	// MaxEvents is how many events are kept; when full, the oldest (by
	// Time) are evicted. Default DefaultMaxEvents.
	MaxEvents int
	// MaxSessions is how many sessions are kept; when full, a new session
	// evicts the least recently seen one. Default DefaultMaxSessions.
	MaxSessions int
	// MaxActivities is how many activity rows are kept; when full, the
	// oldest are evicted. Default DefaultMaxActivities.
	MaxActivities int
	// MaxAlerts is how many alerts are kept; when full, a new alert evicts
	// the least recently seen closed (acknowledged or resolved) alert, or,
	// when every alert is open, the least recently seen open one.
	// Default DefaultMaxAlerts.
	MaxAlerts int
	// MaxBlocks is how many blocks are kept, in force or ended (the
	// history escalation reads); when full, a new block evicts the block
	// that ended earliest, and a batch that would need to evict a block
	// still in force is refused. Default DefaultMaxBlocks.
	MaxBlocks int
	// SubscriberBuffer is how many alert updates each SubscribeAlerts
	// subscriber, and how many block IDs each SubscribeBlocks subscriber,
	// may have pending before further updates to it are dropped and
	// counted (a block subscriber is then told to resync). Default
	// DefaultSubscriberBuffer.
	SubscriberBuffer int
}

func (c Config) withDefaults() (Config, error) {
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxEvents", &c.MaxEvents, DefaultMaxEvents},
		{"MaxSessions", &c.MaxSessions, DefaultMaxSessions},
		{"MaxActivities", &c.MaxActivities, DefaultMaxActivities},
		{"MaxAlerts", &c.MaxAlerts, DefaultMaxAlerts},
		{"MaxBlocks", &c.MaxBlocks, DefaultMaxBlocks},
		{"SubscriberBuffer", &c.SubscriberBuffer, DefaultSubscriberBuffer},
	} {
		switch {
		case *f.v < 0:
			return c, fmt.Errorf("memstore: Config.%s is negative (%d)", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	return c, nil
}

// Store is an in-process secmon.Store. It is safe for concurrent use, holds
// at most the rows its Config allows, and starts no goroutines, so it needs
// no Close. The zero value is not usable; call New or NewWithConfig.
type Store struct {
	cfg Config

	evMu   sync.RWMutex
	events ring[secmon.Event] // sorted by (Time, ID)

	actMu      sync.RWMutex
	activities ring[secmon.Activity] // sorted by (Time, ID)

	sessMu   sync.RWMutex
	sessions map[string]*session
	byUser   map[string]map[string]*session
	sessLRU  sessionHeap

	alertMu   sync.RWMutex // also guards subs
	alertByID map[uuid.UUID]*alertRec
	openAlert map[pair]*alertRec
	alertLRU  alertHeap
	subs      map[*subscriber]struct{}

	blockMu   sync.RWMutex // also guards blockSubs
	blocks    map[uuid.UUID]*secmon.Block
	blockSubs map[*blockSub]struct{}

	evictedEvents, evictedSessions, evictedActivities, evictedAlerts, evictedBlocks atomic.Uint64
	droppedNotifications                                                            atomic.Uint64
}

var (
	_ secmon.Store           = (*Store)(nil)
	_ secmon.Maintainer      = (*Store)(nil)
	_ secmon.AlertSubscriber = (*Store)(nil)
	_ secmon.BlockSubscriber = (*Store)(nil)
)

// New returns a Store with the default bounds.
func New() *Store {
	cfg, _ := Config{}.withDefaults() // the zero Config is valid
	return newStore(cfg)
}

// NewWithConfig returns a Store bounded by cfg. A negative field is an error.
func NewWithConfig(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newStore(cfg), nil
}

func newStore(cfg Config) *Store {
	return &Store{
		cfg:        cfg,
		events:     newRing[secmon.Event](cfg.MaxEvents),
		activities: newRing[secmon.Activity](cfg.MaxActivities),
		sessions:   make(map[string]*session),
		byUser:     make(map[string]map[string]*session),
		alertByID:  make(map[uuid.UUID]*alertRec),
		openAlert:  make(map[pair]*alertRec),
		subs:       make(map[*subscriber]struct{}),
		blocks:     make(map[uuid.UUID]*secmon.Block),
		blockSubs:  make(map[*blockSub]struct{}),
	}
}

// Stats is a snapshot of what a Store holds and has evicted.
type Stats struct {
	Events, Sessions, Activities, Alerts, Blocks int // rows held now

	// Rows evicted because a bound in Config was reached (not counting
	// Purge or EraseUser).
	EvictedEvents, EvictedSessions, EvictedActivities, EvictedAlerts, EvictedBlocks uint64

	Subscribers          int    // SubscribeAlerts calls running
	BlockSubscribers     int    // SubscribeBlocks calls running
	DroppedNotifications uint64 // alert updates and block IDs not delivered because a subscriber's buffer was full
}

// Stats returns current counts. It is safe for concurrent use.
func (s *Store) Stats() Stats {
	var st Stats
	s.evMu.RLock()
	st.Events = s.events.len()
	s.evMu.RUnlock()
	s.actMu.RLock()
	st.Activities = s.activities.len()
	s.actMu.RUnlock()
	s.sessMu.RLock()
	st.Sessions = len(s.sessions)
	s.sessMu.RUnlock()
	s.alertMu.RLock()
	st.Alerts = len(s.alertByID)
	st.Subscribers = len(s.subs)
	s.alertMu.RUnlock()
	st.EvictedEvents = s.evictedEvents.Load()
	st.EvictedSessions = s.evictedSessions.Load()
	st.EvictedActivities = s.evictedActivities.Load()
	st.EvictedAlerts = s.evictedAlerts.Load()
	st.EvictedBlocks = s.evictedBlocks.Load()
	s.blockMu.RLock()
	st.Blocks = len(s.blocks)
	st.BlockSubscribers = len(s.blockSubs)
	s.blockMu.RUnlock()
	st.DroppedNotifications = s.droppedNotifications.Load()
	return st
}
