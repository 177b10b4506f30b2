package sqlschema

import (
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/secmon-go/secmon"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// FS returns the migrations as they are embedded, before rendering: files
// named NNN_name.up.sql and NNN_name.down.sql at the root of the returned
// file system, holding the placeholders described in the package
// documentation.
func FS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil { // the directory is embedded above; this cannot happen
		panic("sqlschema: embedded migrations missing: " + err.Error())
	}
	return sub
}

// Defaults for the zero fields of Config.
const (
	DefaultSchema      = "secmon"
	DefaultServiceRole = "service_role"
	DefaultUserIDExpr  = "current_setting('secmon.user_id', true)"
)

// AlertChannel is the NOTIFY channel on which every inserted or changed
// security_alerts row is announced; the payload is the alert ID.
const AlertChannel = "secmon_alerts"

// BlockChannel returns the NOTIFY channel on which the schema announces
// every inserted or changed blocks row (the payload is the block ID):
// "secmon_blocks_" followed by the schema name, so that schemas sharing a
// database never hear one another's blocks. A schema name too long for the
// 63-byte channel limit is cut to 40 bytes and followed by '_' and 8
// hexadecimal digits of its FNV-1a hash, which keeps distinct schemas apart.
func BlockChannel(schema string) string {
	const prefix = "secmon_blocks_"
	if len(prefix)+len(schema) <= 63 {
		return prefix + schema
	}
	h := fnv.New32a()
	h.Write([]byte(schema))
	return fmt.Sprintf("%s%s_%08x", prefix, schema[:40], h.Sum32())
}

// Config configure the rendering and application of the migrations. The
// zero value means the defaults.
type Config struct {
	// Schema holds every secmon object. Default DefaultSchema ("secmon").
	// It must be a plain lower-case identifier.
	Schema string
	// ServiceRole is the only role the permissive policies open the tables
	// to. Default DefaultServiceRole ("service_role"). The role must exist
	// before the migrations run; it must be a plain lower-case identifier.
	ServiceRole string
	// UserIDExpr is the SQL expression giving the current user's ID as text
	// in the user-scoped read policies. Default DefaultUserIDExpr
	// (current_setting('secmon.user_id', true)); Supabase hosts set
	// "auth.uid()::text". It is trusted configuration, copied into the SQL
	// as written inside (SELECT ...); sqlschema rejects statement
	// separators, comments, dollar quotes, backslashes, unterminated quotes
	// and parentheses that do not balance, so it stays one expression.
	//
	// The default reads a setting that whoever opens the transaction
	// chooses: a client that can run SQL of its own as authenticated can
	// set secmon.user_id to anyone's ID and read that user's sessions and
	// activity (never the events or alerts). It is safe only where clients
	// reach the database through a gateway that sets it per transaction
	// from a verified identity and lets them run no SQL of their own; see
	// "Trust in the user ID" in the package documentation.
	UserIDExpr string
	// Logger receives one record per applied or reverted migration. Nil
	// means silent.
	Logger *slog.Logger
}

const maxUserIDExprLen = 256

var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// withDefaults validates o and fills its zero fields.
func (o Config) withDefaults() (Config, error) {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.ServiceRole == "" {
		o.ServiceRole = DefaultServiceRole
	}
	if o.UserIDExpr == "" {
		o.UserIDExpr = DefaultUserIDExpr
	}
	if err := checkIdentifier("Schema", o.Schema); err != nil {
		return o, err
	}
	if strings.HasPrefix(o.Schema, "pg_") {
		return o, fmt.Errorf("sqlschema: Schema %q: names starting with pg_ are reserved by PostgreSQL: %w", o.Schema, secmon.ErrInvalid)
	}
	if err := checkIdentifier("ServiceRole", o.ServiceRole); err != nil {
		return o, err
	}
	if strings.HasPrefix(o.ServiceRole, "pg_") || o.ServiceRole == "public" {
		return o, fmt.Errorf("sqlschema: ServiceRole %q is reserved by PostgreSQL: %w", o.ServiceRole, secmon.ErrInvalid)
	}
	e := strings.TrimSpace(o.UserIDExpr)
	switch {
	case len(e) > maxUserIDExprLen:
		return o, fmt.Errorf("sqlschema: UserIDExpr is longer than %d bytes: %w", maxUserIDExprLen, secmon.ErrInvalid)
	case strings.ContainsAny(e, ";$\x00"), strings.Contains(e, "--"), strings.Contains(e, "/*"):
		return o, fmt.Errorf("sqlschema: UserIDExpr must be one SQL expression without ';', '$', or comments: %w", secmon.ErrInvalid)
	case strings.Contains(e, "{{"):
		return o, fmt.Errorf("sqlschema: UserIDExpr must not contain '{{': %w", secmon.ErrInvalid)
	}
	if err := checkOneExpression(e); err != nil {
		return o, fmt.Errorf("sqlschema: UserIDExpr: %w: %w", err, secmon.ErrInvalid)
	}
	o.UserIDExpr = e
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// checkOneExpression rejects text that could end the parentheses the
// policies put around UserIDExpr, (SELECT <expr>), and go on with SQL of
// its own, such as 'x') OR (true. Outside string literals and quoted
// identifiers, parentheses must balance and never close more than they
// opened; literals and quoted identifiers must be terminated. Backslashes
// are refused outright: in E'...' and U&'...' strings they change where a
// literal ends, which a lexer this small would get wrong.
func checkOneExpression(e string) error {
	if strings.ContainsRune(e, '\\') {
		return errors.New("backslashes are not allowed")
	}
	depth := 0
	for i := 0; i < len(e); i++ {
		switch c := e[i]; c {
		case '\'', '"':
			end := i + 1
			for {
				j := strings.IndexByte(e[end:], c)
				if j < 0 {
					return fmt.Errorf("unterminated %c at byte %d", c, i)
				}
				end += j + 1
				if end < len(e) && e[end] == c { // doubled: an escaped quote
					end++
					continue
				}
				break
			}
			i = end - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return fmt.Errorf("')' at byte %d closes a parenthesis it did not open", i)
			}
		}
	}
	if depth != 0 {
		return errors.New("unbalanced parentheses")
	}
	return nil
}

func checkIdentifier(field, v string) error {
	if len(v) > 63 {
		return fmt.Errorf("sqlschema: %s %.70q is longer than 63 bytes: %w", field, v, secmon.ErrInvalid)
	}
	if !plainIdentifier.MatchString(v) {
		return fmt.Errorf("sqlschema: %s %q is not a plain identifier (lower-case letters, digits and '_', not starting with a digit): %w", field, v, secmon.ErrInvalid)
	}
	return nil
}

// quoteIdent quotes a validated plain identifier.
func quoteIdent(s string) string { return `"` + s + `"` }

// quoteLiteral quotes a validated plain identifier as a string literal.
func quoteLiteral(s string) string { return `'` + s + `'` }

// Migration is one numbered migration, rendered for a Config.
type Migration struct {
	Version int    // the NNN prefix of the file names
	Name    string // the file name without extension, e.g. "001_tables"
	Up      string // SQL applying the migration
	Down    string // SQL reversing it
}

var fileName = regexp.MustCompile(`^([0-9]{3})_([a-z0-9_]+)\.(up|down)\.sql$`)

// source is one migration as embedded, before rendering.
type source struct {
	version  int
	name     string
	up, down string
}

func sources() ([]source, error) {
	entries, err := fs.ReadDir(FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("sqlschema: reading embedded migrations: %w", err)
	}
	byVersion := map[int]*source{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("sqlschema: embedded file %q is not named NNN_name.up.sql or NNN_name.down.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(FS(), e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqlschema: reading %s: %w", e.Name(), err)
		}
		s := byVersion[v]
		if s == nil {
			s = &source{version: v, name: m[1] + "_" + m[2]}
			byVersion[v] = s
		} else if s.name != m[1]+"_"+m[2] {
			return nil, fmt.Errorf("sqlschema: migrations %s and %s share version %d", s.name, m[1]+"_"+m[2], v)
		}
		if m[3] == "up" {
			s.up = string(b)
		} else {
			s.down = string(b)
		}
	}
	out := make([]source, 0, len(byVersion))
	for _, s := range byVersion {
		if s.up == "" || s.down == "" {
			return nil, fmt.Errorf("sqlschema: migration %s lacks its up or down file", s.name)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// placeholders are the names replaced when rendering; see the package
// documentation.
func replacer(o Config) *strings.Replacer {
	return strings.NewReplacer(
		"{{schema}}", quoteIdent(o.Schema),
		"{{schema_literal}}", quoteLiteral(o.Schema),
		"{{service_role}}", quoteIdent(o.ServiceRole),
		"{{service_role_literal}}", quoteLiteral(o.ServiceRole),
		"{{user_id_expr}}", o.UserIDExpr,
		"{{block_channel_literal}}", quoteLiteral(BlockChannel(o.Schema)),
	)
}

func render(r *strings.Replacer, name, sql string) (string, error) {
	out := r.Replace(sql)
	if i := strings.Index(out, "{{"); i >= 0 {
		end := strings.Index(out[i:], "}}")
		if end < 0 || end > 40 {
			end = min(len(out)-i, 20)
		} else {
			end += 2
		}
		return "", fmt.Errorf("sqlschema: %s: unknown placeholder %q", name, out[i:i+end])
	}
	return out, nil
}

// Migrations returns every migration rendered for opts, oldest first.
func Migrations(opts Config) ([]Migration, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return migrations(o)
}

func migrations(o Config) ([]Migration, error) {
	srcs, err := sources()
	if err != nil {
		return nil, err
	}
	r := replacer(o)
	out := make([]Migration, 0, len(srcs))
	for _, s := range srcs {
		up, err := render(r, s.name+".up.sql", s.up)
		if err != nil {
			return nil, err
		}
		down, err := render(r, s.name+".down.sql", s.down)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: s.version, Name: s.name, Up: up, Down: down})
	}
	return out, nil
}

// SQL returns the up-migrations rendered for opts as one script, for hosts
// that run migrations with their own tool. Each migration is wrapped in
// BEGIN/COMMIT and records its row in schema_migrations, so Migrate can take
// over later without applying anything twice. The script does not take
// Migrate's advisory lock.
func SQL(opts Config) (string, error) {
	var b strings.Builder
	if err := WriteSQL(&b, opts); err != nil {
		return "", err
	}
	return b.String(), nil
}

// WriteSQL writes what SQL returns to w.
func WriteSQL(w io.Writer, opts Config) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	ms, err := migrations(o)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- secmon schema %s, service role %s, rendered by github.com/secmon-go/secmon/sqlschema.\n", o.Schema, o.ServiceRole)
	for _, m := range ms {
		fmt.Fprintf(&b, "\n-- %s\nBEGIN;\n%s\nINSERT INTO %s.schema_migrations (version, name) VALUES (%d, '%s') ON CONFLICT (version) DO NOTHING;\nCOMMIT;\n",
			m.Name, strings.TrimSpace(m.Up), quoteIdent(o.Schema), m.Version, m.Name)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("sqlschema: writing SQL: %w", err)
	}
	return nil
}

// MigrationError reports a migration that failed. It unwraps to the
// database error (a *pgconn.PgError when the server refused a statement).
type MigrationError struct {
	Name      string // e.g. "002_rls"
	Direction string // "up" or "down"
	Err       error
}

// Error names the migration, its direction and the underlying failure.
func (e *MigrationError) Error() string {
	return "sqlschema: migration " + e.Name + " (" + e.Direction + "): " + describe(e.Err)
}

// Unwrap returns the underlying error.
func (e *MigrationError) Unwrap() error { return e.Err }

// ErrServiceRoleMissing reports that the configured service role does not
// exist in the cluster; create it (for example CREATE ROLE service_role
// NOLOGIN) before migrating.
var ErrServiceRoleMissing = errors.New("sqlschema: service role does not exist")

// Event partition names.
const (
	// EventsTable is the partitioned parent table of the event log.
	EventsTable = "security_events"
	// DefaultEventPartition catches rows for days that have no partition.
	DefaultEventPartition = "security_events_default"
)

// EventPartitionName returns the name of the daily partition holding t:
// security_events_pYYYYMMDD for t's UTC day.
func EventPartitionName(t time.Time) string {
	return "security_events_p" + t.UTC().Format("20060102")
}
