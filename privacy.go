package secmon

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/secmon-go/secmon/internal/redact"
)

// IPMode says how a PrivacyPolicy stores client addresses.
type IPMode uint8

// IP modes. The zero value, IPFull, keeps the address.
const (
	// IPFull keeps the address, normalised: an IPv4-mapped IPv6 address
	// (::ffff:a.b.c.d) becomes IPv4 and an IPv6 zone is removed.
	IPFull IPMode = iota
	// IPTruncate keeps the network and zeroes the host part: IPv4 to its /24,
	// IPv6 to its /48, except 6to4 addresses (2002::/16), which embed a
	// whole IPv4 address in their first 48 bits and are cut to their /40
	// (the embedded address's /24).
	IPTruncate
	// IPHash replaces the address by a keyed HMAC-SHA256 pseudonym inside
	// fd00::/8 (see PrivacyPolicy.MaskIP). Without the key the original
	// address cannot be recovered; with it, the same address always maps to
	// the same pseudonym and addresses of one IPGroup share one pseudonym /64.
	IPHash
)

var ipModeNames = [...]string{"full", "truncate", "hash"}

// String returns "full", "truncate" or "hash", or "ipmode(N)" when m is out
// of range.
func (m IPMode) String() string {
	if int(m) < len(ipModeNames) {
		return ipModeNames[m]
	}
	return fmt.Sprintf("ipmode(%d)", uint8(m))
}

// Privacy defaults and limits.
const (
	// Redacted replaces a metadata value, or the part of one, that looks
	// like a secret.
	Redacted = "[REDACTED]"
	// MinIPHashKeyLen is the shortest key accepted for IPHash.
	MinIPHashKeyLen = 16
	// MaxMetadataKeyLen is the longest key a policy's allowlist may hold.
	MaxMetadataKeyLen = 64
	// MaxFingerprintLen is the longest device fingerprint kept; longer ones
	// (not produced by Fingerprinter) are cut.
	MaxFingerprintLen = 128
)

// DefaultMetadataKeys is the metadata allowlist of a PrivacyPolicy whose
// MetadataKeys is nil. It holds short, structured facts that help an
// investigation and are not free text: what was requested (method, path,
// route, status), what was done and to what (action, resource, file
// details, roles, counts), why (reason, rule, threat_codes, error_code, the
// rate-limit policy, limit and window) and from where (country, device,
// client). Free-text fields such as "note",
// "body", "message" or "comment" and anything naming a credential are
// deliberately absent. Values of allowlisted keys are still redacted,
// capped and escaped.
//
// Changing this variable changes every policy with a nil MetadataKeys; set
// PrivacyPolicy.MetadataKeys instead.
var DefaultMetadataKeys = []string{
	"action",
	"actor_id",
	"attempt",
	"block_id",
	"client",
	"count",
	"country",
	"declared_type",
	"detected_type",
	"device",
	"duration",
	"error_code",
	"export_format",
	"file_name",
	"file_size",
	"file_type",
	"level",
	"limit",
	"list",
	"method",
	"mfa_method",
	"new_role",
	"old_role",
	"origin",
	"path",
	"policy",
	"prefix_len",
	"provider",
	"reason",
	"resource",
	"retry_after",
	"route",
	"rows",
	"rule",
	"scope",
	"status",
	"subject",
	"target_user_id",
	"threat_codes",
	"until",
	"window",
}

// PrivacyPolicy says what of an event may be stored. The Monitor applies it
// to every event, session beat and activity before anything else sees them.
//
// A policy filters and never rejects: metadata keys outside the allowlist
// are dropped, values are cut, cleaned and redacted, addresses are masked,
// but the event itself is always kept. The zero value (and a nil
// *PrivacyPolicy) is a valid policy with the defaults documented on each
// field.
//
// # Metadata values
//
// Each kept value is cleaned in this order:
//
//  1. Only the first 4×MaxValueLen bytes are looked at, so a 10 MB value
//     costs no more than a 4 KiB one. When a value is cut there, its last,
//     possibly partial word is dropped so no fragment of a secret survives.
//  2. Invalid UTF-8 becomes U+FFFD; tab, CR, LF, VT, FF and the Unicode
//     line and paragraph separators become a space (the scanners read a
//     name=value pair on the next line as a new pair); every other control
//     character (C0, DEL, C1), the bidirectional embeddings, overrides,
//     isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
//     U+061C), zero-width and other invisible characters (U+200B–U+200D,
//     U+2060–U+2064, U+FEFF, the soft hyphen, the tag characters
//     U+E0000–U+E007F, …) are removed; fullwidth forms of ASCII
//     (U+FF01–U+FF5E, NFKC-equivalent to ASCII) become ASCII. So
//     "pass\u200bword=…", "ｐａｓｓｗｏｒｄ＝…" and "bob＠example.com" meet
//     the scanners as their plain spellings, and nothing stored can display
//     as something else.
//  3. Secrets are replaced by [Redacted] (see below).
//  4. The characters < > & " ' are HTML-escaped exactly as
//     html.EscapeString does (&lt; &gt; &amp; &#34; &#39;), so a stored
//     value is inert text in any HTML context; an '&' that already starts
//     one of those five entities is kept, so cleaning a cleaned value
//     changes nothing. Consumers that want the original characters back
//     call html.UnescapeString.
//  5. The result is cut to MaxValueLen bytes without splitting a UTF-8
//     sequence, an entity or the [Redacted] marker.
//
// A value whose key names a credential is replaced whole, even when the
// key is allowlisted. Names are compared case-insensitively, read both
// squeezed (letters and digits only, so pass_word, Pass-Word and passWord
// read "password") and as words (split at '_', '-', '.' and camelCase
// boundaries). A name names a credential when one of its words is, or
// holds, a credential word (password, passwd, passphrase, pass, pwd, pw,
// secret, token, key, apikey, auth, credential, creds, cookie, signature,
// sig, sessionid, pin, otp, cvv, ssn, iban, jwt, bearer, csrf, cardnumber,
// and the German, French, Spanish and Dutch words for password), or it is
// key, code or session, ends with session (user_session), or ends with
// code after mfa, verification, reset, recovery, otp and the like. A
// credential word qualified as something else is no credential: followed
// by id, name, url, length, type, file, version, expiry, hash and the like
// (credentialsId, secret_length, access_token_url, token_type), or key and
// token after public, primary, foreign, sort, page and the like
// (public_key, publicToken, primaryKey). Words are whole: author,
// authority, oauth_provider, passenger and keyword are not credential
// names.
//
// Inside values, the scanners of internal/redact redact, behind a keyword
// prefilter that costs one table lookup per byte:
//
//   - values assigned to credential names, in the syntaxes of
//     configuration files, code, headers, command lines and prose:
//     password=…, "token": "…", password => "…", apiToken := "…",
//     X_TOKEN ::= "…" (also :::=, ?=, .=, +=), var apiToken string = "…",
//     val token: String = "…", char secret[25] = "…", std::string
//     secret("…"), if ("…" == password), setProperty("X_TOKEN", "…"), <add
//     key="Password" value="…"/>, {"name": "api_token", "value": "…"},
//     <password>…</password>, ?access_token=…, token%3D…, password\u003d…,
//     --password …, "my password is …", "pwd: …". A quoted value goes
//     whole; an unquoted one runs to the end of its line (spaces and
//     punctuation included) unless written name=value with no space,
//     stopping before the next name= or name: pair, a comment or a query
//     separator. After Authorization, Proxy-Authorization, Cookie and
//     Set-Cookie the whole rest of the header goes. Kept are empty values,
//     placeholders (${VAR}, {{ var }}, $(cmd), <password>, xxxxxxxx,
//     ********, your_token_here, EXAMPLE), references to code
//     (os.environ["X"], config.password, $DB_PASSWORD), booleans and nulls,
//     and prose that only talks about a password ("the password is
//     required"). Under a token, key or credentials name (not a password,
//     secret, PIN or card name) a value goes when it looks like a token, as
//     gitleaks' generic rule judges: not letters alone, of at least 3 bits
//     of entropy a byte, free of gitleaks' stop words;
//   - the credential after "Bearer" or "Basic";
//   - vendor tokens by shape, with gitleaks' rule set
//     (github.com/gitleaks/gitleaks, MIT) used as data: each rule's
//     keywords gate its regular expression, which runs on a window around
//     the keyword with the rule's secret group, entropy threshold and
//     allowlists; a token a vendor's rule rejects (a documented example, a
//     wrong length) is kept. The rules read at most 2 KiB of one value;
//     past that, the rest of the value is redacted;
//   - JWTs (three base64url segments, the first starting "eyJ", or two both
//     starting "eyJ"), Discord bot tokens and Mailchimp keys;
//   - random tokens: 32 or more characters of [A-Za-z0-9_+-] mixing upper
//     case, lower case and digits with at least 16 distinct characters and
//     switching between the three as random strings do (identifiers made
//     of words are kept); 40 or more base64 characters with one or two '/'
//     (an AWS secret access key). Hexadecimal strings (digests, commit and
//     object IDs) and UUIDs are kept: a hexadecimal secret is found by its
//     name or its vendor's shape;
//   - the secret path of Slack, Discord and Microsoft Teams webhook URLs;
//   - PEM blocks holding a private key ("-----BEGIN … PRIVATE KEY-----"
//     through its END line, or to the end of the value when that is
//     missing); public keys and certificates are kept;
//   - e-mail addresses, wherever they stand (inside URLs too), the '@'
//     also URL-encoded (%40, %2540);
//   - card numbers: 13 to 19 digits starting with 2 to 6, optionally
//     grouped by single spaces or dashes, or by dots, underscores or double
//     spaces between groups of three or more digits, that pass the Luhn
//     check;
//   - IBANs: a country code, check digits and 11 to 30 upper-case letters
//     and digits, compact or in groups of four, that pass the mod-97 check;
//   - the user:password part of a URL (https://user:pass@host/).
//
// Cleaning is idempotent: a cleaned value cleaned again does not change
// (under IPHash, only when it holds no address: a pseudonym is hashed
// again).
//
// Under IPTruncate and IPHash, IPv4 and IPv6 addresses written inside a
// metadata value or an activity's Resource ("blocked 203.0.113.77",
// "[2001:db8::7]:443", "::ffff:a.b.c.d") are replaced by their MaskIP form,
// so the policy cannot be sidestepped through free text.
//
// # Limits
//
// The scanners find secrets by their shape and name; a short unprefixed
// token in free text, a password in prose that does not name it, a
// credential name spelled with letters of another script (Cyrillic
// "раssword") or a national identifier without a checksum (a US SSN) is
// not recognised; a name is read in ASCII only (contraseña is not matched,
// contrasena is). Measured on the public suites of gitleaks and
// detect-secrets (testdata/secrets, TestPrivacySecretSuites), the default
// policy removes at least 95% of the secrets and changes at most 5% of the
// benign look-alikes; see the README for the figures. That is why
// free-text keys are absent from DefaultMetadataKeys: the allowlist, not the
// scanners, is the main defence.
//
// Escaping (step 4) makes a value inert as HTML element text and inside a
// quoted attribute. It does not make it safe as a URL (a stored
// "javascript:alert(1)" path is still that text: check the scheme before
// putting a value in href or src), inside a script, or in a client-side
// template that evaluates {{…}}. Renderers that escape on their own
// (html/template) show the entities literally; html.UnescapeString first.
//
// UserAgent and Fingerprint are cleaned like step 2 and capped, but neither
// scanned (an address in a user agent is one the client chose to send
// about itself) nor HTML-escaped: detection rules compare them as they are.
// Escape them when rendering.
// UserID, SessionID and OrgID are stored as given (Event.Validate rejects
// control characters in them): pass identifiers, never a session cookie or
// token, as SessionID.
type PrivacyPolicy struct {
	// IPMode says how IP addresses are kept. Default IPFull.
	IPMode IPMode
	// IPHashKey is the HMAC key for IPHash, at least MinIPHashKeyLen bytes.
	// Keep it secret and stable: a new key gives every address a new
	// pseudonym. It is never printed in errors.
	IPHashKey []byte
	// MetadataKeys is the allowlist of metadata keys, matched exactly
	// (case-sensitive). Nil means DefaultMetadataKeys; an empty non-nil
	// slice keeps no metadata.
	MetadataKeys []string
	// MaxMetadataKeys is how many metadata keys are kept; when more are
	// allowed, the first in sorted key order are kept. Zero means
	// MaxMetadataKeys (20), which is also the largest accepted value.
	MaxMetadataKeys int
	// MaxValueLen is the longest metadata value kept, in bytes. Zero means
	// MaxMetadataLen (1024), which is also the largest accepted value.
	MaxValueLen int
	// MaxUserAgentLen is the longest user agent kept, in bytes. Zero means
	// MaxUserAgentLen (512), which is also the largest accepted value.
	MaxUserAgentLen int
}

// Validate reports the first problem with p: an unknown IPMode, IPHash
// without a key of at least MinIPHashKeyLen bytes, a negative or too large
// cap, or an allowlisted key that is empty, longer than MaxMetadataKeyLen or
// not made of ASCII letters, digits, '_', '-' and '.'. A nil p is valid.
// Errors never contain the hash key.
func (p *PrivacyPolicy) Validate() error {
	if p == nil {
		return nil
	}
	if int(p.IPMode) >= len(ipModeNames) {
		return &FieldError{Field: "PrivacyPolicy.IPMode", Reason: "is not IPFull, IPTruncate or IPHash"}
	}
	if p.IPMode == IPHash && len(p.IPHashKey) < MinIPHashKeyLen {
		return &FieldError{Field: "PrivacyPolicy.IPHashKey", Reason: fmt.Sprintf("must hold at least %d bytes for IPHash", MinIPHashKeyLen)}
	}
	for _, c := range [...]struct {
		name   string
		v, max int
	}{
		{"MaxMetadataKeys", p.MaxMetadataKeys, MaxMetadataKeys},
		{"MaxValueLen", p.MaxValueLen, MaxMetadataLen},
		{"MaxUserAgentLen", p.MaxUserAgentLen, MaxUserAgentLen},
	} {
		if c.v < 0 || c.v > c.max {
			return &FieldError{Field: "PrivacyPolicy." + c.name, Reason: fmt.Sprintf("must be between 0 and %d", c.max)}
		}
	}
	for i, k := range p.MetadataKeys {
		if !validMetadataKey(k) {
			return &FieldError{Field: fmt.Sprintf("PrivacyPolicy.MetadataKeys[%d]", i), Reason: fmt.Sprintf("must be 1 to %d bytes of ASCII letters, digits, '_', '-' or '.'", MaxMetadataKeyLen)}
		}
	}
	return nil
}

func validMetadataKey(k string) bool {
	if len(k) == 0 || len(k) > MaxMetadataKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// limits returns the effective caps, clamping out-of-range values of a
// policy that was never validated.
func (p *PrivacyPolicy) limits() (keys, valueLen, uaLen int) {
	keys, valueLen, uaLen = MaxMetadataKeys, MaxMetadataLen, MaxUserAgentLen
	if p == nil {
		return
	}
	if p.MaxMetadataKeys > 0 && p.MaxMetadataKeys < keys {
		keys = p.MaxMetadataKeys
	}
	if p.MaxValueLen > 0 && p.MaxValueLen < valueLen {
		valueLen = p.MaxValueLen
	}
	if p.MaxUserAgentLen > 0 && p.MaxUserAgentLen < uaLen {
		uaLen = p.MaxUserAgentLen
	}
	return
}

func (p *PrivacyPolicy) allowlist() []string {
	if p == nil || p.MetadataKeys == nil {
		return DefaultMetadataKeys
	}
	return p.MetadataKeys
}

// ApplyEvent rewrites e in place: the IP is masked (MaskIP), the user agent
// and fingerprint are cleaned and capped, and Metadata is replaced by a new, filtered map
// (nil when nothing is kept). The map e.Metadata pointed to is never
// modified, so callers may reuse it. A nil p applies the defaults.
//
// ApplyEvent allocates nothing for an event without metadata whose user
// agent is already clean, unless IPMode is IPHash. It is safe to call
// concurrently on different events.
func (p *PrivacyPolicy) ApplyEvent(e *Event) { p.applyEvent(e, nil) }

// applyEvent is ApplyEvent reporting what it drops and cuts to d.
func (p *PrivacyPolicy) applyEvent(e *Event, d *privacyDrops) {
	if e == nil {
		return
	}
	_, _, uaLen := p.limits()
	e.IP = p.MaskIP(e.IP)
	var cut bool
	if e.UserAgent, cut = cleanTextCut(e.UserAgent, uaLen); cut {
		d.valueCut("UserAgent")
	}
	e.Fingerprint = cleanText(e.Fingerprint, MaxFingerprintLen)
	e.Metadata = p.filterMetadata(e.Metadata, d)
}

// ApplyActivity filters a's Metadata like ApplyEvent does and cleans
// Resource like a metadata value. A nil p applies the defaults.
func (p *PrivacyPolicy) ApplyActivity(a *Activity) { p.applyActivity(a, nil) }

// applyActivity is ApplyActivity reporting what it drops and cuts to d.
func (p *PrivacyPolicy) applyActivity(a *Activity, d *privacyDrops) {
	if a == nil {
		return
	}
	_, valueLen, _ := p.limits()
	var cut bool
	if a.Resource, cut = cleanValue(a.Resource, valueLen, p); cut {
		d.valueCut("Resource")
	}
	a.Metadata = p.filterMetadata(a.Metadata, d)
}

// ApplyBeat masks b's IP and cleans its user agent and fingerprint. A nil p applies the
// defaults.
func (p *PrivacyPolicy) ApplyBeat(b *SessionBeat) { p.applyBeat(b, nil) }

// applyBeat is ApplyBeat reporting what it cuts to d.
func (p *PrivacyPolicy) applyBeat(b *SessionBeat, d *privacyDrops) {
	if b == nil {
		return
	}
	_, _, uaLen := p.limits()
	b.IP = p.MaskIP(b.IP)
	var cut bool
	if b.UserAgent, cut = cleanTextCut(b.UserAgent, uaLen); cut {
		d.valueCut("UserAgent")
	}
	b.Fingerprint = cleanText(b.Fingerprint, MaxFingerprintLen)
}

// MaskIP returns ip as the policy stores it. The address is first
// normalised (IPv4-mapped IPv6 to IPv4, zone removed); an invalid address
// stays invalid.
//
// With IPHash the result is an IPv6 address in fd00::/8 (the unique-local
// range, so it can never be mistaken for a routable client). Its upper 64
// bits are fd followed by 56 bits of HMAC-SHA256(key, IPGroup(ip)); its
// lower 64 bits are 64 bits of HMAC-SHA256(key, ip). Hence
// IPGroup(MaskIP(ip)) is the same /64 for every address of one IPGroup (one
// IPv4 address, one IPv6 /64, one 6to4 /48), so detection rules and reports keep
// grouping attackers correctly, while the real address needs the key and a
// search over candidates to recover. A policy in IPHash mode whose key is
// shorter than MinIPHashKeyLen (one that failed Validate) drops addresses:
// it returns the zero Addr rather than a weak pseudonym.
func (p *PrivacyPolicy) MaskIP(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if p == nil {
		return ip
	}
	switch p.IPMode {
	case IPFull:
		return ip
	case IPTruncate:
		bits := 48
		switch {
		case ip.Is4():
			bits = 24
		case sixToFour.Contains(ip):
			// A 6to4 address carries its IPv4 address in bits 16–47,
			// which a /48 would keep whole: cut that to its /24.
			bits = 40
		}
		pfx, _ := ip.Prefix(bits)
		return pfx.Addr()
	case IPHash:
		if len(p.IPHashKey) < MinIPHashKeyLen {
			return netip.Addr{}
		}
		return hashIP(p.IPHashKey, ip)
	}
	return netip.Addr{}
}

// sixToFour is the 6to4 range (RFC 3056), 2002:AABB:CCDD::/48 for the
// IPv4 address A.B.C.D.
var sixToFour = netip.MustParsePrefix("2002::/16")

func hashIP(key []byte, ip netip.Addr) netip.Addr {
	// Messages carry a domain tag and the family, so an IPv4 address and
	// the IPv6 address with the same 16 bytes never share a pseudonym.
	var msg [19]byte
	family := byte(6)
	if ip.Is4() {
		family = 4
	}
	grp := IPGroup(ip)
	a16 := grp.Addr().As16()
	msg[0], msg[1], msg[2] = 'g', family, byte(grp.Bits())
	copy(msg[3:], a16[:])
	hi := hmacSHA256(key, msg[:])
	a16 = ip.As16()
	msg[0], msg[2] = 'a', 128
	copy(msg[3:], a16[:])
	lo := hmacSHA256(key, msg[:])
	var out [16]byte
	out[0] = 0xfd
	copy(out[1:8], hi[:7])
	copy(out[8:], lo[:8])
	return netip.AddrFrom16(out)
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) over stack buffers, so short
// messages cost no heap allocation. Longer messages use crypto/hmac.
func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	const block = 64
	const maxMsg = 256
	if len(msg) > maxMsg {
		return hmacLong(key, append([]byte(nil), msg...))
	}
	var k [block]byte
	if len(key) > block {
		s := sha256.Sum256(key)
		copy(k[:], s[:])
	} else {
		copy(k[:], key)
	}
	var inner [block + maxMsg]byte
	for i := range k {
		inner[i] = k[i] ^ 0x36
	}
	n := block + copy(inner[block:], msg)
	ih := sha256.Sum256(inner[:n])
	var outer [block + sha256.Size]byte
	for i := range k {
		outer[i] = k[i] ^ 0x5c
	}
	copy(outer[block:], ih[:])
	return sha256.Sum256(outer[:])
}

// hmacLong is crypto/hmac, kept apart so that hmacSHA256's arguments stay
// on the stack.
func hmacLong(key, msg []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// filterMetadata returns the kept metadata in a new map, or nil.
func (p *PrivacyPolicy) filterMetadata(m map[string]string, d *privacyDrops) map[string]string {
	if len(m) == 0 {
		return nil
	}
	present := 0 // allowlisted keys of m, kept or past the cap
	maxKeys, valueLen, _ := p.limits()
	allow := p.allowlist()
	// kept holds the smallest allowed keys in sorted order (insertion into a
	// fixed array: O(len * maxKeys), no allocation, deterministic).
	var keptArr [MaxMetadataKeys]string
	kept := keptArr[:0]
	add := func(k string) {
		i := len(kept)
		for i > 0 && kept[i-1] > k {
			i--
		}
		if i > 0 && kept[i-1] == k {
			return // duplicate allowlist entry
		}
		if i >= maxKeys {
			return
		}
		if len(kept) < maxKeys {
			kept = kept[:len(kept)+1]
		}
		copy(kept[i+1:], kept[i:len(kept)-1])
		kept[i] = k
	}
	// Walk the allowlist (len(allow) lookups, so a 10,000-key map against a
	// short allowlist costs no more than a short map), except for a few
	// keys against a longer allowlist, compared directly. Never
	// len(m)×len(allow): a large map against a large allowlist stays linear.
	if len(allow) <= len(m) || len(m) > 8 {
		for _, k := range allow {
			if _, ok := m[k]; ok {
				present++
				add(k)
			}
		}
	} else {
		for k := range m {
			if inList(allow, k) {
				present++
				add(k)
			}
		}
	}
	if d != nil && len(kept) < len(m) {
		p.reportDropped(m, kept, present, d)
	}
	if len(kept) == 0 {
		return nil
	}
	out := make(map[string]string, len(kept))
	for _, k := range kept {
		if redact.CredentialName(k) {
			out[k] = Redacted
			continue
		}
		v, cut := cleanValue(m[k], valueLen, p)
		if cut {
			d.valueCut(k)
		}
		out[k] = v
	}
	return out
}

// maxNamedDrops bounds the dropped keys of one map reported by name; the
// rest are counted.
const maxNamedDrops = 8

// reportDropped tells d about the keys of m that are not in kept. present
// is how many of m's keys are allowlisted (some past the cap when more
// than kept).
func (p *PrivacyPolicy) reportDropped(m map[string]string, kept []string, present int, d *privacyDrops) {
	named := 0
	for k := range m {
		if inList(kept, k) {
			continue
		}
		if named == maxNamedDrops {
			break
		}
		named++
		d.keyDropped(k, present > len(kept) && inList(p.allowlist(), k))
	}
	// The keys past maxNamedDrops count without a name.
	if rest := len(m) - len(kept) - named; rest > 0 {
		d.dropped.addOther(rest)
	}
}

func inList(list []string, k string) bool {
	for _, s := range list {
		if s == k {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// cleanText removes control characters and invalid UTF-8 from s and cuts it
// to max bytes at a rune boundary. It returns s itself when nothing changes.
func cleanText(s string, max int) string {
	out, _ := cleanTextCut(s, max)
	return out
}

// cleanTextCut is cleanText also reporting whether s was cut to max.
func cleanTextCut(s string, max int) (string, bool) {
	clean := len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
		}
	}
	if clean {
		return s, false
	}
	var buf [MaxUserAgentLen]byte
	if max > len(buf) {
		max = len(buf)
	}
	n, consumed, _ := sanitize(buf[:max], s, false)
	if n == len(s) && string(buf[:n]) == s {
		return s, false
	}
	return string(buf[:n]), consumed < len(s)
}

// sanitize writes s into dst with invalid UTF-8 replaced by U+FFFD, layout
// controls (\t \n \v \f \r, U+2028, U+2029) turned into spaces (with
// keepLines, line breaks into '\n' and tabs kept, for the scanners, which
// read a line break as the end of a value) and other controls removed,
// stopping before the first rune that does not fit. It returns the bytes
// written, how many bytes of s were consumed, and whether the output
// differs from the consumed input.
func sanitize(dst []byte, s string, keepLines bool) (n, consumed int, changed bool) {
	for consumed < len(s) {
		c := s[consumed]
		if c < utf8.RuneSelf {
			size := 1
			switch {
			case keepLines && (c == '\t' || c == '\n'):
			case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
				c = ' '
				if keepLines {
					c = '\n'
				}
				changed = true
			case c < 0x20 || c == 0x7f:
				consumed += size
				changed = true
				continue
			}
			if n >= len(dst) {
				return n, consumed, changed
			}
			dst[n] = c
			n++
			consumed += size
			continue
		}
		r, size := utf8.DecodeRuneInString(s[consumed:])
		switch {
		case r == utf8.RuneError && size == 1:
			changed = true
			if n+3 > len(dst) {
				return n, consumed, changed
			}
			n += utf8.EncodeRune(dst[n:], utf8.RuneError)
			consumed += size
			continue
		case invisibleRune(r):
			consumed += size
			changed = true
			continue
		case r == 0x2028 || r == 0x2029 || r == 0x3000:
			// Line and paragraph separators break lines like LF does;
			// the ideographic space is a space.
			if n >= len(dst) {
				return n, consumed, changed
			}
			dst[n] = ' '
			if keepLines && r != 0x3000 {
				dst[n] = '\n'
			}
			n++
			consumed += size
			changed = true
			continue
		case r >= 0xff01 && r <= 0xff5e:
			// Fullwidth forms of ASCII (NFKC-equivalent to it) become
			// ASCII, so "ｐａｓｓｗｏｒｄ＝…" or "bob＠example.com" meet
			// the same scanners as their plain spelling.
			if n >= len(dst) {
				return n, consumed, changed
			}
			dst[n] = byte(r - 0xfee0)
			n++
			consumed += size
			changed = true
			continue
		}
		if n+size > len(dst) {
			return n, consumed, changed
		}
		n += copy(dst[n:], s[consumed:consumed+size])
		consumed += size
	}
	return n, consumed, changed
}

// invisibleRune reports the runes sanitize removes: C1 controls, the
// bidirectional embeddings, overrides, isolates and marks (which can make a
// stored value display as something else), zero-width and other invisible
// formatting characters (which can split a credential name or an address so
// the scanners miss it, or make two identifiers look alike), interlinear
// annotations and the Unicode tag characters (invisible text).
func invisibleRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f,
		r == 0xad, r == 0x34f, r == 0x61c, r == 0x115f, r == 0x1160, r == 0x17b4, r == 0x17b5, r == 0x180e,
		r >= 0x200b && r <= 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2060 && r <= 0x206f,
		r == 0x3164, r == 0xfeff, r == 0xffa0,
		r >= 0xfff9 && r <= 0xfffb,
		r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	return false
}

// Value cleaning bounds.
const (
	scanFactor = 4 // bytes of input examined per byte of output allowed
)

// cleanValue applies the value rules of PrivacyPolicy to v. It returns v
// itself, without allocating, when nothing changes.
//
// When mask is a policy in IPTruncate or IPHash mode, addresses written in
// the value are replaced by their masked form.
func cleanValue(v string, max int, mask *PrivacyPolicy) (string, bool) {
	out, cut := cleanValueOnce(v, max, mask)
	if cut {
		// The cut may have made a new shape (a partial number that
		// passes a checksum, a name without its value): clean the result
		// until it no longer changes, so cleaning twice changes nothing.
		for range 3 {
			again, _ := cleanValueOnce(out, max, mask)
			if again == out {
				break
			}
			out = again
		}
	}
	return out, cut
}

// cleanValueOnce is one pass of cleanValue.
func cleanValueOnce(v string, max int, mask *PrivacyPolicy) (string, bool) {
	if v == "" {
		return v, false
	}
	window := scanFactor * max
	s, changed := v, false
	var sp redact.Spans
	sp.Reset()
	var info redact.Info
	if len(v) <= window {
		// Most values are printable ASCII without entities: one pass.
		info = redact.Scan(v, &sp)
	}
	if len(v) > window || info&(redact.NotPlain|redact.Escapes) != 0 {
		if len(v) > window || info&redact.NotPlain != 0 {
			s, changed = sanitizeValue(v, window)
		}
		if strings.IndexByte(s, '&') >= 0 {
			// A value cleaned before holds the entities of step 4: the
			// scanners read the characters they stand for, and
			// emitValue writes them back, so cleaning twice changes
			// nothing.
			if d, ok := unescapeEntities(s); ok {
				s, changed = d, true
			}
		}
		if changed || len(v) > window {
			sp.Reset()
			info = redact.Scan(s, &sp)
		}
	}
	special := info&redact.Escapes != 0
	if mask != nil && mask.IPMode != IPFull {
		scanAddrs(s, &sp, mask)
	}
	windowCut := len(v) > window
	if sp.Empty() && len(s) <= max && !special {
		if !changed {
			return v, false
		}
		return s, windowCut
	}
	out, cut := emitValue(s, &sp, max)
	return out, cut || windowCut
}

// sanitizeValue runs sanitize over at most window bytes of output. When v
// does not fit, the last, possibly partial word is dropped, and with it a
// trailing run of digits and separators that may be a partial card number,
// so no fragment of a secret cut by the window survives.
func sanitizeValue(v string, window int) (string, bool) {
	var in [scanFactor * MaxMetadataLen]byte
	if window > len(in) {
		window = len(in)
	}
	n, consumed, changed := sanitize(in[:window], v, false)
	s := in[:n]
	if consumed < len(v) {
		changed = true
		i := len(s)
		for i > 0 && !isWordSep(s[i-1]) {
			i--
		}
		for i > 0 && (isDigit(s[i-1]) || s[i-1] == ' ' || s[i-1] == '-' || s[i-1] == '.' || s[i-1] == '_') {
			i--
		}
		s = s[:i]
	}
	if !changed {
		return v, false
	}
	return string(s), true
}

// emitValue writes s with the spans replaced by Redacted and markup
// escaped, stopping before the first unit (rune, entity or marker) that
// would pass max bytes.
func emitValue(s string, sp *redact.Spans, max int) (string, bool) {
	var outBuf [MaxMetadataLen]byte
	if max > len(outBuf) {
		max = len(outBuf)
	}
	out := outBuf[:0]
	list := sp.Sorted()
	from := sp.From()
	si := 0
	i := 0
	for i < len(s) {
		if from >= 0 && i >= from {
			if len(out)+len(Redacted) <= max {
				out = append(out, Redacted...)
				i = len(s)
			}
			break
		}
		for si < len(list) && list[si].End <= i {
			si++
		}
		if si < len(list) && list[si].Start <= i {
			// Overlapping spans become one marker.
			end := list[si].End
			for si+1 < len(list) && list[si+1].Start <= end {
				si++
				if list[si].End > end {
					end = list[si].End
				}
			}
			if from >= 0 && end > from {
				end = len(s)
			}
			if r := list[si].Repl; r.IsValid() && list[si].Start == i && list[si].End == end {
				// A masked address alone in its range.
				n := len(out)
				if out = r.AppendTo(out); len(out) > max {
					out = out[:n]
					break
				}
				i = end
				continue
			}
			if len(out)+len(Redacted) > max {
				break
			}
			out = append(out, Redacted...)
			i = end
			continue
		}
		c := s[i]
		var unit string
		adv := 1 // input bytes the unit stands for
		switch c {
		case '<':
			unit = "&lt;"
		case '>':
			unit = "&gt;"
		case '&':
			if n := escapedEntity(s[i:]); n > 0 {
				// Already escaped (a value cleaned before): kept, so
				// cleaning is idempotent.
				unit, adv = s[i:i+n], n
				break
			}
			unit = "&amp;"
		case '"':
			unit = "&#34;"
		case '\'':
			unit = "&#39;"
		case '\t', '\n':
			// Line breaks end values for the scanners; stored, they are
			// spaces.
			unit = " "
		}
		if unit != "" {
			if len(out)+len(unit) > max {
				break
			}
			out = append(out, unit...)
			i += adv
			continue
		}
		size := 1
		if c >= utf8.RuneSelf {
			_, size = utf8.DecodeRuneInString(s[i:])
		}
		if len(out)+size > max {
			break
		}
		out = append(out, s[i:i+size]...)
		i += size
	}
	return string(out), i < len(s)
}

// unescapeEntities replaces the entities step 4 writes by their
// characters; ok is false when s holds none.
func unescapeEntities(s string) (string, bool) {
	if !strings.Contains(s, "&lt;") && !strings.Contains(s, "&gt;") && !strings.Contains(s, "&amp;") &&
		!strings.Contains(s, "&#34;") && !strings.Contains(s, "&#39;") {
		return s, false
	}
	return entityReplacer.Replace(s), true
}

var entityReplacer = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", "\"", "&#39;", "'")

// needsAmp reports whether s holds an '&' that is not the start of an
// entity step 4 writes.
func needsAmp(s string) bool {
	for {
		k := strings.IndexByte(s, '&')
		if k < 0 {
			return false
		}
		if escapedEntity(s[k:]) == 0 {
			return true
		}
		s = s[k+1:]
	}
}

// escapedEntity returns the length of the entity step 4 writes (&lt;
// &gt; &amp; &#34; &#39;) at the start of s, or 0.
func escapedEntity(s string) int {
	for _, e := range [...]string{"&lt;", "&gt;", "&amp;", "&#34;", "&#39;"} {
		if strings.HasPrefix(s, e) {
			return len(e)
		}
	}
	return 0
}

// isWordSep reports the bytes that end the last word of a value cut by
// the scan window.
func isWordSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '"', '\'', '`', ',', ';', '(', ')', '[', ']', '{', '}', '<', '>', '|', '\\':
		return true
	}
	return false
}

// scanAddrs finds IPv4 and IPv6 addresses in s (alone, with a port, in
// brackets, IPv4-mapped) and records their masked form under p.
func scanAddrs(s string, sp *redact.Spans, p *PrivacyPolicy) {
	isAddrChar := func(c byte) bool { return isHex(c) || c == ':' || c == '.' }
	for i := 0; i < len(s) && !sp.Done(i); {
		if !isAddrChar(s[i]) || i > 0 && (isAlnum(s[i-1]) || s[i-1] == ':' || s[i-1] == '.') {
			i++
			continue
		}
		j := i
		for j < len(s) && (isAddrChar(s[j]) || isAlnum(s[j])) {
			j++
		}
		run := s[i:j]
		next := j
		// Sentence punctuation and a port are not part of the address.
		for len(run) > 0 && run[len(run)-1] == '.' {
			run = run[:len(run)-1]
		}
		dots, colons, ok := 0, 0, len(run) >= 2 && len(run) <= 45
		for k := 0; ok && k < len(run); k++ {
			switch c := run[k]; {
			case c == '.':
				dots++
			case c == ':':
				colons++
			case !isHex(c):
				ok = false
			}
		}
		if ok && dots == 3 && colons == 1 {
			run = run[:strings.IndexByte(run, ':')] // a.b.c.d:port
			colons = 0
		}
		if ok && (dots == 3 && colons == 0 && allDigitsDots(run) || colons >= 2 && (dots == 0 || dots == 3) && ipv6Shape(run, dots == 3)) {
			if a, err := netip.ParseAddr(run); err == nil {
				sp.AddRepl(i, i+len(run), p.MaskIP(a))
			}
		}
		i = next
	}
}

// ipv6Shape checks what netip.ParseAddr would, cheaply and without the
// allocation of its error: groups of at most four hex digits, at most one
// "::", and eight groups (six and an IPv4 tail) unless "::" stands for
// some, so times (12:30:45) and MAC addresses are rejected early.
func ipv6Shape(s string, v4tail bool) bool {
	groups, glen, double := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ':':
			if i+1 < len(s) && s[i+1] == ':' {
				if double {
					return false
				}
				double = true
				i++
			}
			if glen > 0 {
				groups++
			}
			glen = 0
		case c == '.':
			if !v4tail {
				return false
			}
			return double && groups <= 5 || groups == 6
		default:
			if glen++; glen > 4 {
				return false
			}
		}
	}
	if glen > 0 {
		groups++
	}
	return double && groups <= 7 || groups == 8
}

func allDigitsDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}
