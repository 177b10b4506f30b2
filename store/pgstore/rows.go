package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secmon-go/secmon"
)

// run runs fn under a per-statement timeout and translates its error.
func (s *Store) run(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := canceled(ctx, op); err != nil {
		return err
	}
	sctx, cancel := s.stmt(ctx)
	defer cancel()
	return translate(sctx, op, fn(sctx))
}

// collect runs sql with args under op (see run) and appends each row scan
// reads to dst[:0], which it allocates with capacity n once the query has
// been sent when dst is nil. It returns nil and the error when the query or
// a row fails.
func collect[T any](ctx context.Context, s *Store, op string, dst []T, n int, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	err := s.run(ctx, op, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if dst == nil {
			dst = make([]T, 0, n)
		}
		dst = dst[:0]
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			dst = append(dst, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// copySource feeds CopyFrom from a slice without building a [][]any: fill
// writes row i into a reused value slice, which pgx encodes before asking
// for the next row.
type copySource struct {
	n, i int
	row  []any
	fill func(i int, row []any)
}

func (c *copySource) Next() bool {
	if c.i >= c.n {
		return false
	}
	c.fill(c.i, c.row)
	c.i++
	return true
}

func (c *copySource) Values() ([]any, error) { return c.row, nil }
func (c *copySource) Err() error             { return nil }

// insertMode selects how idempotent batches are written.
type insertMode int

const (
	// insertCopyFirst COPYs straight into the table and, only when that
	// fails on a duplicate ID (a retried batch), falls back to staging.
	insertCopyFirst insertMode = iota
	// insertStaged always COPYs into a temporary table and moves the rows
	// with INSERT ... SELECT ... ON CONFLICT DO NOTHING.
	insertStaged
)

// copyIdempotent writes n rows into table (schema-qualified name parts)
// so that rows whose key is already stored are skipped. conflict is the
// ON CONFLICT target, e.g. "(id, created_at)".
func (s *Store) copyIdempotent(ctx context.Context, op string, table pgx.Identifier, conflict string, cols []string, n int, fill func(i int, row []any)) error {
	return s.copyIdempotentHook(ctx, op, table, conflict, cols, n, fill, nil)
}

// insertHook is what the transaction that writes a batch does besides: it
// learns which rows were inserted and writes on the same transaction, so
// what it writes commits with the rows or not at all.
type insertHook struct {
	// returning lists the columns the staged INSERT returns for each row it
	// inserts.
	returning string
	// start is called before each attempt; all when every row of the
	// batch was inserted (COPY straight into the table); row with each row
	// the staged INSERT returns; write at the end, on the transaction.
	start func()
	all   func()
	row   func(pgx.Rows) error
	write func(ctx context.Context, tx pgx.Tx) error
}

// copyIdempotentHook is copyIdempotent with a hook (nil for none). With a
// hook the direct COPY runs in a transaction too.
func (s *Store) copyIdempotentHook(ctx context.Context, op string, table pgx.Identifier, conflict string, cols []string, n int, fill func(i int, row []any), hook *insertHook) error {
	if n == 0 {
		return canceled(ctx, op)
	}
	src := func() *copySource { return &copySource{n: n, row: make([]any, len(cols)), fill: fill} }
	if s.mode == insertCopyFirst && !s.copyRefused.Load() {
		err := s.run(ctx, op, func(ctx context.Context) error {
			if hook == nil {
				_, err := s.pool.CopyFrom(ctx, table, cols, src())
				return err
			}
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				hook.start()
				if _, err := tx.CopyFrom(ctx, table, cols, src()); err != nil {
					return err
				}
				hook.all()
				return hook.write(ctx, tx)
			})
		})
		var pg *pgconn.PgError
		switch {
		case err == nil || !errors.As(err, &pg):
			return err
		case pg.Code == "0A000": // feature_not_supported: COPY FROM not supported with row-level security
			// The connecting role is subject to the tables' policies (it is
			// neither a superuser nor BYPASSRLS): COPY into them is refused,
			// whatever the policies allow. Write through the staging table
			// from now on; it is COPY into a temporary table, which has no
			// policies, and one INSERT that the policies check.
			if !s.copyRefused.Swap(true) {
				s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "secmon: COPY into the tables is refused under row-level security; "+
					"writing batches through a temporary table (grant the role BYPASSRLS for direct COPY)",
					slog.String("schema", s.opts.Schema))
			}
		case pg.Code != "23505": // unique_violation: a retried batch
			return err
		}
	}
	stage := "secmon_stage_" + table[len(table)-1]
	colList := strings.Join(quoteAll(cols), ", ")
	insert := "INSERT INTO " + table.Sanitize() + " (" + colList + ") SELECT " + colList +
		" FROM pg_temp." + pgx.Identifier{stage}.Sanitize() + " ON CONFLICT " + conflict + " DO NOTHING"
	return s.run(ctx, op, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+pgx.Identifier{stage}.Sanitize()+
				" (LIKE "+table.Sanitize()+" INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stage}, cols, src()); err != nil {
				return err
			}
			if hook == nil {
				_, err := tx.Exec(ctx, insert)
				return err
			}
			// Only the rows the INSERT returns were inserted: a retried
			// batch's rows already stored are not counted twice.
			hook.start()
			rows, err := tx.Query(ctx, insert+" RETURNING "+hook.returning)
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := hook.row(rows); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			return hook.write(ctx, tx)
		})
	})
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}

// Values for nullable columns: the zero value is stored as NULL.

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullAddr(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a.WithZone("")
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return int32(n)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// geoValues returns the six geo column values of g.
func geoValues(g secmon.Geo) (country, region, city, lat, lon, acc any) {
	if g.IsZero() {
		return nil, nil, nil, nil, nil, nil
	}
	if g.HasLocation() {
		lat, lon = g.Latitude, g.Longitude
	}
	return nullText(g.Country), nullText(g.Region), nullText(g.City), lat, lon, nullInt(g.AccuracyKM)
}

var emptyObject = []byte("{}")

// encodeMap encodes metadata or evidence as a JSON object; nil and empty
// maps become {}.
func encodeMap(m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return emptyObject, nil
	}
	return json.Marshal(m)
}

// decodeMap decodes a JSON object of strings; {} gives nil.
func decodeMap(b []byte) (map[string]string, error) {
	if len(b) == 0 || string(b) == "{}" || string(b) == "null" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// where collects the conditions of a query with positional arguments.
type where struct {
	conds []string
	args  []any
}

// add appends cond, in which '?' stands for the argument's placeholder.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// checkRange rejects a range whose To is before its From (zero bounds are
// open).
func checkRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return invalid("To", "is before From")
	}
	return nil
}
