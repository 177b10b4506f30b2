// Package secmon gives a Go web service the security monitoring a careful
// team would otherwise write by hand: a security event log, detection rules
// with deduplicated alerts, rate limiting, coalesced session heartbeats and
// upload validation.
//
// The root package declares the vocabulary ([Event], [Alert], [Finding],
// [Decision], [Verdict] …) and the small interfaces the parts implement
// ([Logger], [Detector], [RateLimiter], [UploadValidator], [Notifier],
// [GeoResolver], [Store]). Implementations live in subpackages: detect,
// ratelimit, upload, notify, geo/maxmind and the stores under store/.
//
// # Client addresses
//
// [ClientIP] finds the client address of a request behind reverse proxies.
// It trusts X-Forwarded-For only when the connection comes from a proxy the
// host names, and walks the header from the right, so a client cannot choose
// the address it is logged under. [IPGroup] turns an address into the key
// detection rules and rate limiters count by: the address itself for IPv4,
// its /64 for IPv6, because one IPv6 subscriber usually holds a whole /64.
// [RequestInfo] gathers what an [Event] needs from a request: address,
// capped user agent and a keyed device fingerprint.
//
// # Privacy
//
// Every event passes through a [PrivacyPolicy] before it is stored. The policy
// keeps IP addresses full, truncated (IPv4 /24, IPv6 /48) or replaced by a
// keyed hash; keeps only allowlisted metadata keys ([DefaultMetadataKeys]),
// at most [MaxMetadataKeys] of them and [MaxMetadataLen] bytes per value;
// strips control characters; HTML-escapes markup; and replaces values that
// look like secrets (passwords, bearer tokens, JWTs, API keys, e-mail
// addresses, card numbers, credentials in URLs) with [Redacted]. The policy
// filters and never rejects, so a careless caller cannot lose a security
// event by logging too much.
package secmon
