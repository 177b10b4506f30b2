package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/internal/querylimit"
	"github.com/secmon-go/secmon/sqlschema"
)

// blockEnd is the SQL for when a block ends (expires or is lifted,
// whichever comes first); it is the expression the blocks_end_idx index
// holds, so the planner uses that index for it.
const blockEnd = `LEAST(COALESCE(until, 'infinity'::timestamptz), COALESCE(lifted_at, 'infinity'::timestamptz))`

const blockSelect = `SELECT id, scope, subject, prefix, user_id, reason, rule, origin, level, created_at, until,
 created_by, lifted_at, lifted_by FROM `

func scanBlock(row pgx.Row) (secmon.Block, error) {
	var (
		b                   secmon.Block
		scope, origin, rule string
		prefix              *netip.Prefix
		userID, liftedBy    *string
		until, liftedAt     *time.Time
	)
	if err := row.Scan((*[16]byte)(&b.ID), &scope, &b.Subject, &prefix, &userID, &b.Reason, &rule, &origin, &b.Level,
		&b.Created, &until, &b.By, &liftedAt, &liftedBy); err != nil {
		return b, err
	}
	b.Scope, b.Origin, b.Rule = secmon.BlockScope(scope), secmon.BlockOrigin(origin), secmon.RuleName(rule)
	if prefix != nil {
		b.Prefix = *prefix
	}
	if userID != nil {
		b.UserID = *userID
	}
	if liftedBy != nil {
		b.LiftedBy = *liftedBy
	}
	b.Created = b.Created.UTC()
	if until != nil {
		b.Until = until.UTC()
	}
	if liftedAt != nil {
		b.LiftedAt = liftedAt.UTC()
	}
	return b, nil
}

// PutBlocks implements secmon.BlockStore with one INSERT ... ON CONFLICT
// (id) DO UPDATE statement built from column arrays. Every block is
// validated first and the batch is refused whole when one is unfit; the
// same ID twice in a batch keeps the later. An update changes a row only
// when some field differs, so a retried batch neither rewrites rows nor
// announces them again, and it never clears a stored lift. The schema
// announces each inserted or changed block on its block channel
// (sqlschema.BlockChannel).
func (s *Store) PutBlocks(ctx context.Context, blocks []secmon.Block) error {
	const op = "put blocks"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	for i := range blocks {
		if err := blocks[i].Validate(); err != nil {
			return fmt.Errorf("pgstore: blocks[%d]: %w", i, err)
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	// One row per ID, the later one winning, in ID order: rows are locked
	// in the same order by every writer.
	last := make(map[uuid.UUID]int, len(blocks))
	for i := range blocks {
		last[blocks[i].ID] = i
	}
	idx := make([]int, 0, len(last))
	for _, i := range last {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(blocks[a].ID[:], blocks[b].ID[:]) })
	n := len(idx)
	var (
		ids                                            = make([][16]byte, n)
		scopes, subjects, reasons, rules, origins, bys = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		prefixes, users, liftedBys                     = make([]*string, n), make([]*string, n), make([]*string, n)
		levels                                         = make([]int32, n)
		created                                        = make([]time.Time, n)
		untils, liftedAts                              = make([]*time.Time, n), make([]*time.Time, n)
	)
	for j, i := range idx {
		b := &blocks[i]
		ids[j], scopes[j], subjects[j], reasons[j], rules[j], origins[j], bys[j] = b.ID, string(b.Scope), b.Subject, b.Reason, string(b.Rule), string(b.Origin), b.By
		if b.Prefix.IsValid() {
			p := b.Prefix.String()
			prefixes[j] = &p
		}
		if b.UserID != "" {
			u := b.UserID
			users[j] = &u
		}
		levels[j], created[j] = int32(b.Level), b.Created
		if !b.Until.IsZero() {
			u := b.Until
			untils[j] = &u
		}
		if !b.LiftedAt.IsZero() {
			at, by := b.LiftedAt, b.LiftedBy
			liftedAts[j], liftedBys[j] = &at, &by
		}
	}
	sql := `INSERT INTO ` + s.blocks + ` AS t (id, scope, subject, prefix, user_id, reason, rule, origin, level,
 created_at, until, created_by, lifted_at, lifted_by)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::cidr[], $5::text[], $6::text[], $7::text[], $8::text[],
 $9::int4[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::timestamptz[], $14::text[])
ON CONFLICT (id) DO UPDATE SET
 scope = EXCLUDED.scope, subject = EXCLUDED.subject, prefix = EXCLUDED.prefix, user_id = EXCLUDED.user_id,
 reason = EXCLUDED.reason, rule = EXCLUDED.rule, origin = EXCLUDED.origin, level = EXCLUDED.level,
 created_at = EXCLUDED.created_at, until = EXCLUDED.until, created_by = EXCLUDED.created_by,
 lifted_at = COALESCE(t.lifted_at, EXCLUDED.lifted_at), lifted_by = COALESCE(t.lifted_by, EXCLUDED.lifted_by),
 updated_at = pg_catalog.now()
WHERE (t.scope, t.subject, t.prefix, t.user_id, t.reason, t.rule, t.origin, t.level, t.created_at, t.until, t.created_by)
 IS DISTINCT FROM (EXCLUDED.scope, EXCLUDED.subject, EXCLUDED.prefix, EXCLUDED.user_id, EXCLUDED.reason, EXCLUDED.rule,
 EXCLUDED.origin, EXCLUDED.level, EXCLUDED.created_at, EXCLUDED.until, EXCLUDED.created_by)
 OR (t.lifted_at IS NULL AND EXCLUDED.lifted_at IS NOT NULL)`
	return s.run(ctx, op, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, sql, ids, scopes, subjects, prefixes, users, reasons, rules, origins, levels, created,
			untils, bys, liftedAts, liftedBys)
		return err
	})
}

// Blocks implements secmon.BlockStore: matching blocks, newest (highest
// ID) first. The blocks in force at a time (ActiveAt, EndsAfter) are found
// through the index on each block's end, without reading the history.
func (s *Store) Blocks(ctx context.Context, q secmon.BlockQuery) ([]secmon.Block, error) {
	const op = "query blocks"
	if err := canceled(ctx, op); err != nil {
		return nil, err
	}
	var w where
	switch {
	case q.Scope != "" && !q.Scope.Valid():
		return nil, invalid("Scope", "is not ip, prefix or user")
	case q.Origin != "" && !q.Origin.Valid():
		return nil, invalid("Origin", "is not rule, manual or list")
	case len(q.IDs) > secmon.MaxQueryLimit:
		return nil, invalid("IDs", "holds more than "+strconv.Itoa(secmon.MaxQueryLimit)+" IDs")
	}
	if q.IDs != nil {
		if len(q.IDs) == 0 {
			return nil, nil
		}
		ids := make([][16]byte, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = id
		}
		w.add("id = ANY(?)", ids)
	}
	if !q.ActiveAt.IsZero() {
		w.add("created_at <= ?", q.ActiveAt)
		w.add(blockEnd+" > ?", q.ActiveAt)
	}
	if !q.EndsAfter.IsZero() {
		w.add(blockEnd+" > ?", q.EndsAfter)
	}
	if q.Scope != "" {
		w.add("scope = ?", string(q.Scope))
	}
	if q.Subject != "" {
		w.add("subject = ?", q.Subject)
	}
	if q.Origin != "" {
		w.add("origin = ?", string(q.Origin))
	}
	if !q.Since.IsZero() {
		w.add("created_at >= ?", q.Since)
	}
	if q.Before != uuid.Nil {
		w.add("id < ?", [16]byte(q.Before))
	}
	limit := querylimit.Clamp(q.Limit)
	sql := blockSelect + s.blocks + w.String() + ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit)
	return collect(ctx, s, op, nil, min(limit, 64), scanBlock, sql, w.args...)
}

// LiftBlock implements secmon.BlockStore: it sets lifted_at and lifted_by
// on a block not lifted yet. Lifting twice keeps the first lift (and
// announces nothing); an unknown ID is an error matching
// secmon.ErrNotFound.
func (s *Store) LiftBlock(ctx context.Context, id uuid.UUID, by string, at time.Time) error {
	const op = "lift block"
	if err := canceled(ctx, op); err != nil {
		return err
	}
	switch {
	case at.IsZero():
		return invalid("at", "is zero")
	case by == "":
		return invalid("by", "is empty")
	case len(by) > secmon.MaxBlockByLen:
		return invalid("by", "is longer than "+strconv.Itoa(secmon.MaxBlockByLen)+" bytes")
	}
	return s.run(ctx, op, func(ctx context.Context) error {
		var exists bool
		err := s.pool.QueryRow(ctx, `WITH lifted AS (UPDATE `+s.blocks+` SET lifted_at = $2, lifted_by = $3, updated_at = pg_catalog.now()
 WHERE id = $1 AND lifted_at IS NULL RETURNING id)
SELECT EXISTS (SELECT 1 FROM `+s.blocks+` WHERE id = $1)`, [16]byte(id), at, by).Scan(&exists)
		if err != nil {
			return err
		}
		if !exists {
			return &Error{Op: op, msg: "no block " + id.String(), kinds: []error{secmon.ErrNotFound}}
		}
		return nil
	})
}

// SubscribeBlocks implements secmon.BlockSubscriber: it calls fn with the
// ID of each block inserted or changed in the Store's schema, by any
// instance, until ctx is done; it then returns ctx's error.
//
// It takes one connection out of the pool for itself (the pool opens
// another in its place) and runs LISTEN on the schema's block channel
// (sqlschema.BlockChannel), so other schemas' blocks are never heard. Each
// time LISTEN succeeds, on the first connection and after every reconnect,
// it calls resync: changes made while nothing listened are not replayed.
// When the connection breaks it reconnects with exponential backoff (100ms
// up to 10s). fn and resync run on the calling goroutine. A nil fn or
// resync is an error matching secmon.ErrInvalid.
func (s *Store) SubscribeBlocks(ctx context.Context, fn func(id uuid.UUID), resync func()) error {
	if fn == nil || resync == nil {
		return invalid("fn", "is nil")
	}
	return s.resubscribe(ctx, "block", func(ctx context.Context) (bool, error) { return s.listenBlocks(ctx, fn, resync) })
}

// BlockChannel returns the NOTIFY channel the Store's schema announces
// blocks on.
func (s *Store) BlockChannel() string { return s.blockChannel }

// listenBlocks runs one LISTEN connection until it fails or ctx is done.
func (s *Store) listenBlocks(ctx context.Context, fn func(uuid.UUID), resync func()) (listened bool, err error) {
	const op = "subscribe blocks"
	conn, err := s.listenOn(ctx, op, "blocks", s.blockChannel)
	if err != nil {
		return false, err
	}
	defer closeListener(ctx, conn)
	resync()
	for {
		id, err := nextID(ctx, op, conn)
		if err != nil {
			return true, err
		}
		fn(id)
	}
}

// blockChannelFor is the channel of schema.
func blockChannelFor(schema string) string { return sqlschema.BlockChannel(schema) }
