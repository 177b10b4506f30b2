package secmon

import (
	"context"
	"net/netip"
	"strings"
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
//
// A stored block holds the real address it refuses, whatever the privacy
// policy does to the addresses of events: a block must match requests.
type Block struct {
	ID    uuid.UUID
	Scope BlockScope
	// Subject is the canonical text of what is blocked (see BlockSubject):
	// "ip:203.0.113.7/32", "prefix:198.51.100.0/24", "user:alice". A match
	// of a reputation list that Guard.Check reports, which is no stored
	// block and has no ID, names the list instead: "list:<name>".
	Subject string
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

// Limits on Block fields, checked by Block.Validate.
const (
	MaxBlockReasonLen = MaxMetadataLen // bytes of Reason
	MaxBlockByLen     = MaxIDLen       // bytes of By and LiftedBy
	MaxBlockLevel     = 1000           // highest escalation Level
)

// ActiveAt reports whether b is in force at t: created at or before t, not
// lifted by then, and not expired.
func (b Block) ActiveAt(t time.Time) bool {
	if t.Before(b.Created) {
		return false
	}
	return !b.EndedAt(t)
}

// EndedAt reports whether b has ended at t: it was lifted at or before t,
// or its Until is not after t. A block created after t has not ended (a
// block decided on an instance whose clock runs ahead is still one to
// enforce).
func (b Block) EndedAt(t time.Time) bool {
	if !b.LiftedAt.IsZero() && !t.Before(b.LiftedAt) {
		return true
	}
	return !b.Until.IsZero() && !t.Before(b.Until)
}

// End returns when b ended or will end: LiftedAt when it was lifted before
// its Until, else Until. The zero time means it never ends unless lifted.
func (b Block) End() time.Time {
	if !b.LiftedAt.IsZero() && (b.Until.IsZero() || b.LiftedAt.Before(b.Until)) {
		return b.LiftedAt
	}
	return b.Until
}

// BlockSubject returns the canonical Subject of a block of scope: "ip:"
// followed by the IP group for ScopeIP, "prefix:" followed by the masked
// prefix for ScopePrefix, "user:" followed by userID for ScopeUser. The
// "ip:" form is the one the detection rules give their subjects, so a
// finding's subject and the block it leads to compare equal. It returns ""
// for an invalid scope or an invalid prefix.
func BlockSubject(scope BlockScope, prefix netip.Prefix, userID string) string {
	switch scope {
	case ScopeIP, ScopePrefix:
		if !prefix.IsValid() {
			return ""
		}
		if scope == ScopeIP {
			return "ip:" + prefix.Masked().String()
		}
		return "prefix:" + prefix.Masked().String()
	case ScopeUser:
		if userID == "" {
			return ""
		}
		return "user:" + userID
	}
	return ""
}

// Validate reports the first problem that makes b unfit to store: a zero
// ID or Created, an unknown Scope or Origin, a Prefix that is invalid,
// unmasked, IPv4-mapped or zoned (for ScopeIP and ScopePrefix, where a
// ScopeIP prefix must also be the IPGroup of its address), an empty or
// over-long UserID (ScopeUser), a Subject other than BlockSubject's, an
// Until not after Created, a Level outside [1, MaxBlockLevel], an over-long
// Reason, By or LiftedBy, or control characters in them.
func (b *Block) Validate() error {
	switch {
	case b.ID == uuid.Nil:
		return &FieldError{Field: "ID", Reason: "is zero"}
	case !b.Scope.Valid():
		return &FieldError{Field: "Scope", Reason: "is not ip, prefix or user"}
	case !b.Origin.Valid():
		return &FieldError{Field: "Origin", Reason: "is not rule, manual or list"}
	case b.Created.IsZero():
		return &FieldError{Field: "Created", Reason: "is zero"}
	case !b.Until.IsZero() && !b.Until.After(b.Created):
		return &FieldError{Field: "Until", Reason: "is not after Created"}
	case b.Level < 1 || b.Level > MaxBlockLevel:
		return &FieldError{Field: "Level", Reason: "is outside [1, 1000]"}
	}
	switch b.Scope {
	case ScopeIP, ScopePrefix:
		p := b.Prefix
		switch {
		case !p.IsValid():
			return &FieldError{Field: "Prefix", Reason: "is not a valid prefix"}
		case p != p.Masked():
			return &FieldError{Field: "Prefix", Reason: "has host bits set"}
		case p.Addr().Is4In6() || p.Addr().Zone() != "":
			return &FieldError{Field: "Prefix", Reason: "is IPv4-mapped or zoned"}
		case b.Scope == ScopeIP && IPGroup(p.Addr()) != p:
			return &FieldError{Field: "Prefix", Reason: "is not an IP group (an IPv4 /32, an IPv6 /64, a 6to4 /48)"}
		case b.UserID != "":
			return &FieldError{Field: "UserID", Reason: "is set on an address block"}
		}
	case ScopeUser:
		if b.UserID == "" {
			return &FieldError{Field: "UserID", Reason: "is required for a user block"}
		}
		if b.Prefix.IsValid() {
			return &FieldError{Field: "Prefix", Reason: "is set on a user block"}
		}
		if err := checkIdentifier("UserID", b.UserID); err != nil {
			return err
		}
	}
	if b.Subject != BlockSubject(b.Scope, b.Prefix, b.UserID) {
		return &FieldError{Field: "Subject", Reason: "is not the canonical subject of the block (see BlockSubject)"}
	}
	if len(b.Reason) > MaxBlockReasonLen {
		return &FieldError{Field: "Reason", Reason: "is too long"}
	}
	if strings.ContainsFunc(b.Reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return &FieldError{Field: "Reason", Reason: "holds control characters"}
	}
	if len(b.Rule) > MaxEventTypeLen {
		return &FieldError{Field: "Rule", Reason: "is too long"}
	}
	for _, f := range [...]struct{ name, v string }{{"By", b.By}, {"LiftedBy", b.LiftedBy}, {"Rule", string(b.Rule)}} {
		if err := checkIdentifier(f.name, f.v); err != nil {
			return err
		}
	}
	if !b.LiftedAt.IsZero() && b.LiftedBy == "" {
		return &FieldError{Field: "LiftedBy", Reason: "is required when LiftedAt is set"}
	}
	return nil
}

// BlockQuery selects blocks for BlockStore.Blocks. Zero fields do not
// filter. Results are newest first (by ID, which is time-ordered), at most
// Limit (default DefaultQueryLimit, capped at MaxQueryLimit).
type BlockQuery struct {
	ActiveAt  time.Time   // only blocks in force at this time (see Block.ActiveAt)
	EndsAfter time.Time   // only blocks that have not ended at this time (see Block.EndedAt), whenever created
	IDs       []uuid.UUID // only these blocks (at most MaxQueryLimit)
	Scope     BlockScope
	Subject   string
	Origin    BlockOrigin
	Since     time.Time // Created at or after
	Before    uuid.UUID // only IDs below this one: the cursor for the next page
	Limit     int
}

// BlockStore is the durable list of blocks every instance enforces.
type BlockStore interface {
	// PutBlocks stores blocks in one call. A block whose ID is already
	// stored replaces it (a longer Until, a new Reason), so a retried batch
	// never duplicates one; but a stored lift is never undone: LiftedAt
	// and LiftedBy, once set, are kept. Each block must pass
	// Block.Validate, or the batch is refused whole (ErrInvalid).
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
	// SubscribeBlocks calls fn with the ID of each block put, lifted or
	// removed by EraseUser until ctx is done, then returns ctx's error. A
	// subscriber that reads an announced block and finds none knows it was
	// removed. It calls resync each
	// time announcements may have been missed: once it is listening (what
	// changed before is not announced) and after every gap (a reconnect, a
	// subscriber too slow to keep up). fn and resync are called from the
	// calling goroutine, one at a time, and must not block for long.
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
