package secmon

import (
	"context"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// BlockScope says what a Block refuses.
type BlockScope string

// Block scopes.
const (
	// ScopeIP blocks one IP group (see IPGroup): an IPv4 address or an IPv6
	// /64, so an attacker rotating addresses inside its /64 stays blocked.
	ScopeIP BlockScope = "ip"
	// ScopePrefix blocks any prefix, e.g. a reputation list's 198.51.100.0/24.
	ScopePrefix BlockScope = "prefix"
	// ScopeUser blocks one account, whatever address it comes from.
	ScopeUser BlockScope = "user"
)

// Valid reports whether s is one of the Scope* constants.
func (s BlockScope) Valid() bool { return s == ScopeIP || s == ScopePrefix || s == ScopeUser }

// BlockOrigin says who decided a Block.
type BlockOrigin string

// Block origins.
const (
	OriginRule   BlockOrigin = "rule"   // a detection rule's finding, through the guard's policy
	OriginManual BlockOrigin = "manual" // an operator (dashboard, admin API, code)
	OriginList   BlockOrigin = "list"   // an IP reputation list
)

// Valid reports whether o is one of the Origin* constants.
func (o BlockOrigin) Valid() bool { return o == OriginRule || o == OriginManual || o == OriginList }

// Block is a decision to refuse an IP group, a prefix or an account until a
// time. Blocks are kept after they expire or are lifted, as the history that
// escalation reads (a repeat offender's next block is longer), until the
// RetentionPolicy's Blocks period purges them.
type Block struct {
	ID      uuid.UUID
	Scope   BlockScope
	Subject string       // canonical text of what is blocked: "ip:203.0.113.7/32", "prefix:198.51.100.0/24", "user:alice"
	Prefix  netip.Prefix // ScopeIP and ScopePrefix: the blocked prefix (masked)
	UserID  string       // ScopeUser: the blocked account
	Reason  string       // one human line, no secrets
	Rule    RuleName     // OriginRule: the rule whose finding decided it
	Origin  BlockOrigin
	Level   int       // escalation step: 1 for a first block, 2 for the next within the history window, …
	Created time.Time // when it was decided
	Until   time.Time // when it ends; zero means until lifted
	By      string    // who decided it: an operator's name, "rule:<name>", "list:<name>"

	LiftedAt time.Time // when it was lifted early; zero while it was not
	LiftedBy string    // who lifted it
}

// ActiveAt reports whether b is in force at t: created at or before t, not
// lifted by then, and not expired.
func (b Block) ActiveAt(t time.Time) bool {
	if t.Before(b.Created) {
		return false
	}
	if !b.LiftedAt.IsZero() && !t.Before(b.LiftedAt) {
		return false
	}
	return b.Until.IsZero() || t.Before(b.Until)
}

// BlockQuery selects blocks for BlockStore.Blocks. Zero fields do not
// filter. Results are newest first (by ID, which is time-ordered), at most
// Limit (default DefaultQueryLimit, capped at MaxQueryLimit).
type BlockQuery struct {
	ActiveAt time.Time   // only blocks in force at this time (see Block.ActiveAt)
	IDs      []uuid.UUID // only these blocks
	Scope    BlockScope
	Subject  string
	Origin   BlockOrigin
	Since    time.Time // Created at or after
	Before   uuid.UUID // only IDs below this one: the cursor for the next page
	Limit    int
}

// BlockStore is the durable list of blocks every instance enforces.
type BlockStore interface {
	// PutBlocks stores blocks in one call. A block whose ID is already
	// stored replaces it (a longer Until, a new Reason), so a retried batch
	// never duplicates one.
	PutBlocks(ctx context.Context, blocks []Block) error
	// Blocks returns matching blocks, newest first.
	Blocks(ctx context.Context, q BlockQuery) ([]Block, error)
	// LiftBlock ends a block early: LiftedAt becomes at and LiftedBy by.
	// Lifting a block already lifted keeps the first lift. ErrNotFound when
	// there is no such block.
	LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error
}

// BlockSubscriber is an optional BlockStore capability: stores shared by
// several instances announce every change, so each instance's Guard reloads
// the block within a second instead of polling.
type BlockSubscriber interface {
	// SubscribeBlocks calls fn with the ID of each block put or lifted
	// until ctx is done, then returns ctx's error. After a gap in the
	// announcements (a reconnect) it calls resync, since changes may have
	// been missed. fn and resync must not block for long.
	SubscribeBlocks(ctx context.Context, fn func(id uuid.UUID), resync func()) error
}

// Guard answers, from memory, whether a request must be refused. Check takes
// no lock, does no I/O and allocates nothing, so it can run on every request.
type Guard interface {
	// Check returns the block in force for ip (its IP group, or any prefix
	// holding it) or for userID, and whether there is one. An invalid ip or
	// an empty userID matches nothing of its kind.
	Check(ip netip.Addr, userID string) (Block, bool)
}

// GuardFunc adapts a function to a Guard.
type GuardFunc func(ip netip.Addr, userID string) (Block, bool)

// Check calls f(ip, userID).
func (f GuardFunc) Check(ip netip.Addr, userID string) (Block, bool) { return f(ip, userID) }
