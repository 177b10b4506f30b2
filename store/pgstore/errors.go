package pgstore

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secmon-go/secmon"
)

// ErrStatementTimeout matches errors of statements cancelled because they
// ran longer than Config.StatementTimeout (or the server's own
// statement_timeout or lock_timeout). Such errors match
// context.DeadlineExceeded too.
var ErrStatementTimeout = errors.New("pgstore: statement timeout")

// errStatementTimeoutCause is the cause the Store's own per-statement
// contexts are cancelled with, so a timeout is told from the caller's
// deadline.
var errStatementTimeoutCause = ErrStatementTimeout

// Error is the error every Store method returns for a failed database call.
// It names the operation and, when the server reported one, the SQLSTATE
// code. It matches, with errors.Is, the sentinel that describes it:
// secmon.ErrInvalid for rows or arguments the database rejected,
// secmon.ErrNotFound, ErrStatementTimeout, context.Canceled or
// context.DeadlineExceeded. The driver's error stays reachable with
// errors.As for diagnostics. Error() carries the server's one-line message
// but never its detail (which may quote row values), and never connection
// strings or passwords.
type Error struct {
	Op   string // what the Store was doing, e.g. "insert events"
	Code string // SQLSTATE code from the server; empty otherwise

	msg   string
	kinds []error
	err   error
}

// Error names the operation that failed; it never holds connection
// strings or passwords.
func (e *Error) Error() string { return "pgstore: " + e.Op + ": " + e.msg }

// Unwrap returns the sentinels e matches and the underlying driver error.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, len(e.kinds)+1)
	out = append(out, e.kinds...)
	if e.err != nil {
		out = append(out, e.err)
	}
	return out
}

// translate turns a driver error into an *Error. ctx is the context the
// statement ran under (usually one made by Store.stmt).
func translate(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, err: err}
	var pg *pgconn.PgError
	isPg := errors.As(err, &pg)
	if isPg {
		e.Code = pg.Code
	}
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrStatementTimeout):
		e.msg = "statement timeout"
		e.kinds = []error{ErrStatementTimeout, context.DeadlineExceeded}
	case ctx.Err() != nil:
		e.msg = ctx.Err().Error()
		e.kinds = []error{ctx.Err()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.msg = "context: " + firstLine(err.Error())
	case errors.Is(err, pgx.ErrNoRows):
		e.msg = "not found"
		e.kinds = []error{secmon.ErrNotFound}
	case isPg:
		e.msg = pg.Message + " (SQLSTATE " + pg.Code + ")"
		switch {
		case pg.Code == "57014" || pg.Code == "55P03": // query_canceled, lock_not_available
			e.kinds = []error{ErrStatementTimeout, context.DeadlineExceeded}
		case strings.HasPrefix(pg.Code, "22"), strings.HasPrefix(pg.Code, "23"): // data exception, integrity violation
			e.kinds = []error{secmon.ErrInvalid}
		case pg.Code == "42P01" || pg.Code == "3F000" || pg.Code == "42883": // undefined table, schema, function
			e.msg += "; has the schema been migrated (sqlschema.Migrate)?"
		}
	default:
		e.msg = firstLine(err.Error())
	}
	return e
}

// canceled reports ctx's error as the Store's error when ctx is already
// done, so that no method starts work for a caller that has gone.
func canceled(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Op: op, msg: err.Error(), kinds: []error{err}}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// invalid reports an argument problem as an error matching secmon.ErrInvalid.
func invalid(field, reason string) error {
	return &secmon.FieldError{Field: field, Reason: reason}
}
