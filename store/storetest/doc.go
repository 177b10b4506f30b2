// Package storetest is the conformance suite every [secmon.Store] must pass.
//
// A store's own tests call [Run] with a function that returns a fresh, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) secmon.Store {
//			return memstore.New()
//		})
//	}
//
// Subtests run in parallel, each on its own store. Compare figures the way
// the suite does: times within a microsecond (PostgreSQL keeps microseconds)
// and regardless of location, nil maps equal to empty ones.
//
// # The contract
//
// The suite pins down what the role interfaces in package secmon leave open.
// A store that passes it behaves as follows.
//
// Validation. A batch with one invalid row is rejected whole with an error
// matching [secmon.ErrInvalid], and nothing of it is stored. Events need a
// non-zero ID and Time and must pass [secmon.Event.Validate]; activities need
// ID, Time, UserID and Action; beats need SessionID, UserID and Time; alerts
// need Rule, Subject and LastSeen, a valid Severity, a Count that is not
// negative and a FirstSeen not after LastSeen. Empty batches are no-ops.
// Queries with To before From, an invalid severity or status, Hourly ranges
// of more than [secmon.MaxQueryLimit] hours, Purge with a zero now and
// EraseUser of the empty user ID are ErrInvalid too.
//
// Events and activity. IDs are the idempotency key: a row whose ID is
// already stored (or repeated within a batch) is skipped. Queries return
// newest first, ties broken by ID descending; From is inclusive, To
// exclusive; a Limit of zero or less means [secmon.DefaultQueryLimit] and a
// larger one is capped at [secmon.MaxQueryLimit]. An IP prefix filter
// matches addresses of the prefix's family only.
//
// Event pages. A query whose Before is the cursor of the last event of a
// page ([secmon.Event.Cursor]) returns the events after it in the same
// order, with every filter still applied: walking the pages yields exactly
// the rows of one unlimited query, even across runs of equal times and
// while newer events are inserted. A cursor need not name a stored event;
// with a zero ID it keeps the events strictly older than its time.
//
// Sessions. The newest beat wins: LastSeen, IP, UserAgent, Fingerprint, Geo,
// OrgID and UserID come from the beat with the latest Time, whether beats
// arrive out of order within a batch or across batches; StartedAt is the
// earliest beat seen. ActiveSessions omits revoked sessions and orders by
// LastSeen descending (ties by SessionID). RevokeSession of an unknown ID is
// [secmon.ErrNotFound]; revoking twice keeps the first time; a later beat
// never revives a revoked session.
//
// Alerts. UpsertAlerts merges into the open alert with the same (Rule,
// Subject), including alerts earlier in the same batch: Count is added (a
// zero Count counts as one), LastSeen and Severity never decrease, and
// Summary, Evidence and Action are taken from the finding only when its
// LastSeen is not older than the stored one. The stored ID and FirstSeen are
// kept. Without an open alert for the pair a new one is opened with the given
// ID, FirstSeen (LastSeen when zero) and status open, whatever Status the
// input carried; the ID is replaced by a fresh one when it is zero or
// already belongs to a stored alert (a writer may still hold the ID of an
// alert resolved since). Acknowledged and resolved alerts never
// absorb findings. Alerts are listed by LastSeen descending, ties by ID
// descending; MinSeverity keeps alerts of at least that severity.
//
// Reports. Summary and Hourly count events in [from, to). Hourly buckets
// start at from truncated to the hour, in UTC, one per hour while the start
// is before to, empty hours included; so bounds inside an hour give partial
// first and last buckets, and bucket totals always equal the Summary's.
// AlertsOpened counts alerts whose FirstSeen is in [from, to), whatever their
// status.
//
// Top ranks the IP groups ([secmon.IPGroup]) and the user IDs of the
// events of [From, To) of the given types (every type when none is given):
// most events first, then the later newest event, then the key byte-wise;
// each list holds at most the clamped Limit. Each source counts its
// distinct user IDs and each account its distinct IP groups. Events with
// no address or no user are left out of that list only. Both bounds are
// required.
//
// Retention. Purge applies p.WithDefaults() as of now; a negative duration
// keeps that kind of row forever. Events and activity go when Time is older
// than the period; a session goes when the later of its LastSeen and
// RevokedAt is older than p.Sessions (so idle sessions go, and revoked ones
// are kept p.Sessions after revocation); alerts go only when resolved and
// LastSeen is older than p.Alerts. PurgeResult counts the rows removed.
// EraseUser removes the user's events, sessions, activity, the alerts whose
// subject is the user ([secmon.AlertAboutUser]) and the blocks on the
// account ([secmon.BlockOnUser], in force or not), and returns how many
// rows went; ExportUser writes exactly those rows, one
// [secmon.ExportRecord] a line, and nothing about anyone else. A store
// that is a [secmon.BlockSubscriber] announces every block EraseUser
// removes.
//
// Blocks. PutBlocks validates every block with [secmon.Block.Validate] and
// rejects the batch whole when one fails; a block whose ID is stored is
// replaced (the same ID twice in a batch: the later wins), except that a
// stored lift is never undone. LiftBlock of an unknown ID is
// [secmon.ErrNotFound], with a zero time or an empty lifter ErrInvalid;
// lifting twice keeps the first lift. Blocks returns newest first (ID
// descending) and filters by IDs, Scope, Subject, Origin, Since (Created
// at or after), Before (ID below: the next page), ActiveAt
// ([secmon.Block.ActiveAt]) and EndsAfter (not ended then, whenever
// created); an unknown Scope or Origin, or more than MaxQueryLimit IDs, is
// ErrInvalid. Blocks on nested prefixes are separate rows; ended blocks
// stay as history until Purge removes those that ended (lifted, or past
// Until) more than p.Blocks ago; blocks in force and unlifted permanent
// blocks are never purged.
//
// Context. Every method returns an error matching context.Canceled when
// called with a cancelled context, and changes nothing.
//
// Concurrency. Every method is safe for concurrent use; concurrent upserts of
// one alert pair end as one open alert whose Count is the sum.
package storetest
