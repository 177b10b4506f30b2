// Package dashboard is an embeddable, live security dashboard for the
// admins of a secmon host: one http.Handler, mounted under any prefix.
//
//	h, err := dashboard.New(dashboard.Config{
//		Authorize: func(r *http.Request) (string, dashboard.Role, bool) {
//			// the host's own authentication: session, SSO header, mTLS …
//		},
//		Store:  store,   // memstore or pgstore
//		Logger: monitor, // admin actions are logged through it
//	})
//	mux.Handle("/admin/", http.StripPrefix("/admin", h))
//
// # Pages
//
// Overview: today's figures, the last 24 hours per hour with attack hours
// marked (hours in which alerts were opened, and hours whose failed logins
// reached 20 and three times the median hour), the sources and accounts
// behind the most failures, open alerts by severity, and the Monitor's
// health. Alerts: filter by status, minimum severity and rule; evidence,
// suggested action, count, first and last seen; acknowledge, resolve,
// reopen, and "block source" when a Guard is configured. Events: search by
// type, user, address or prefix, time range and severity, a page of 50 at
// a time (cursor pagination: exact while events arrive). Sessions: the
// live sessions and the anomalies of the last 7 days; revoke. Blocks (with
// a Guard): active blocks with origin, level and expiry, the blocks ended
// in the last 7 days; lift; block manually. Uploads: recent blocked
// uploads with their threat codes, and the validation stage timings (p50,
// p99) of the host's upload.Tracker.
//
// Every time is shown in UTC with its date. Every figure is computed from
// the store when the page is requested (nothing is cached), and a section
// whose read failed says so instead of showing zeros; where a list is cut
// at a limit the page says "at least" or "the newest". The Overview reads
// the last 24 whole hours (hourly buckets and the ranking of sources and
// accounts); over pgstore both come from hourly rollups the store keeps as
// it writes events, exact but no smaller than the distinct (source,
// account) pairs of each hour's failures, so the ranking's cost follows
// those pairs, not the size of the log: see benchmarks/results/dashboard.md.
//
// # Live updates
//
// The pages listen to a Server-Sent Events stream (GET stream): new and
// updated alerts as the Monitor raises them (or, with pgstore and no
// Monitor, as PostgreSQL's LISTEN announces them from every instance), and
// the Overview's counters every Config.LiveInterval. One subscription and
// one counters loop serve every connected browser, and run while one is
// connected (and Config.LiveLinger after the last leaves). Each connection
// is authorised when it opens and ends after Config.StreamLifetime, so the
// browser reconnects and is authorised again. The browser reconnects by
// itself when the stream ends or drops, naming the last alert it got
// (Last-Event-ID); the last 256 alerts are kept, so it is sent what it
// missed. A browser too slow to keep up, or whose gap is wider than that,
// is told to reload rather than slowing the others or showing less than
// there is. Pages work without JavaScript; only the live updates need it.
//
// The handler New returns is also an io.Closer: Close ends the live streams
// and their loops at once; call it when the host shuts down.
//
// # Security
//
//   - New refuses to build a dashboard without Config.Authorize. Every
//     request, assets and the stream included, is authorised; a role other
//     than RoleViewer or RoleAdmin, or a name unfit for an audit event, is
//     refused.
//   - Viewers read. Admins act, unless Config.ReadOnly. Every action is
//     logged (secmon.EventAdminAction, metadata action, actor_id, resource
//     or subject) through Config.Logger before it is carried out, and not
//     carried out when it cannot be logged; a failure afterwards is logged
//     again with error_code. Refused changes are logged as
//     secmon.EventAccessDenied with their reason.
//   - State changes are POST forms carrying an anti-forgery token: an
//     HMAC of the person's name and the time, valid 12 hours, under
//     Config.CSRFKey. Cross-site posts are also refused by their Fetch
//     Metadata and Origin headers (http.CrossOriginProtection).
//   - Pages are rendered by html/template; metadata, user agents, user IDs,
//     file names, evidence and alert summaries are shown as text. The
//     Monitor's privacy policy stores metadata HTML-escaped; the dashboard
//     unescapes it first, so the text shown is what the client sent, and
//     html/template escapes it again. The live script writes with
//     textContent only.
//   - Every response carries a Content-Security-Policy with default-src
//     'self', no inline script or style (the chart is SVG sized by
//     attributes), frame-ancestors 'none' and Trusted Types; nosniff,
//     no-referrer, and Cache-Control: no-store on every page and the
//     stream. Scripts, styles and the icon are embedded with go:embed and
//     served under content-hashed names: nothing is loaded from elsewhere,
//     so the dashboard works offline.
//   - A manual block of the person's own account or address, or of a
//     prefix broader than /8 (IPv4) or /32 (IPv6), is refused.
//   - Inputs are bounded and parsed strictly; a form's return address can
//     only name a dashboard page.
//
// Revoking a session marks it revoked in the store; give
// Config.RevokeSession to end it in the host's own session layer too.
//
// # Guard
//
// The Blocks page and the "block source" action drive a [Guard]: the
// guard package's *guard.Guard, or anything with the same four methods.
package dashboard
