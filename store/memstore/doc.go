// Package memstore is an in-process [secmon.Store]: the default for a single
// instance, for tests and for every example that runs with no services.
//
//	store := memstore.New() // or memstore.NewWithConfig(memstore.Config{MaxEvents: 100_000})
//
// It passes the conformance suite in package storetest, so it behaves as the
// PostgreSQL store does (see that package for the contract), and it also
// implements [secmon.Maintainer], [secmon.AlertSubscriber] and
// [secmon.BlockSubscriber] (so several guards sharing one memstore in a
// process see one another's blocks at once).
//
// # Bounded memory
//
// Every kind of row has a bound in [Config]. Events and activity are kept in
// ring buffers ordered by (Time, ID): when one is full, the oldest rows are
// evicted to make room. A new session evicts the least recently seen session;
// a new alert evicts the least recently seen closed alert, or the least
// recently seen open one when none is closed; a new block evicts the block
// that ended earliest, and a batch of blocks that could only fit by evicting
// one still in force is refused. Evictions are counted in
// [Store.Stats]; Purge and EraseUser are not evictions. Single rows are
// bounded too: a field longer than the PrivacyPolicy allows, or a metadata
// or evidence map of more than secmon.MaxMetadataKeys keys, is rejected with
// an error matching secmon.ErrInvalid.
//
// # Performance
//
// Events arrive mostly in time order, so an insert is usually an append; an
// out-of-order batch is merged with the newer rows only. Queries, summaries
// and purges find their time range by binary search, so a query for the last
// hour does not read the rest of the log. Filters other than time scan the
// range. Sessions are indexed by ID and user. A Before cursor is found by
// binary search too. Top counts the range's events per IP group and per
// account in maps, then reads the range again only for the distinct
// counterparts of the ranked entries.
//
// # Copies
//
// Metadata and Evidence maps are copied on the way in and on the way out:
// callers can neither change stored rows through their maps nor see later
// changes through a returned one.
//
// # Alert subscriptions
//
// [Store.SubscribeAlerts] runs the caller's function on the caller's
// goroutine for every alert opened or changed by UpsertAlerts or
// SetAlertStatus. The store never waits for a subscriber: each has a buffer
// of Config.SubscriberBuffer updates, and updates that find it full are
// dropped and counted in Stats.DroppedNotifications.
//
// # Concurrency
//
// All methods are safe for concurrent use. Each kind of row has its own
// lock, so writers of events do not wait for readers of sessions. The Store
// starts no goroutines and needs no Close.
package memstore
