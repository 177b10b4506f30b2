package redact

// nameKind classifies a key or parameter name.
type nameKind uint8

const (
	// nameNone: the name says nothing about credentials.
	nameNone nameKind = iota
	// nameSecret: the name names a credential; its value goes.
	nameSecret
	// namePublic: the name is about a credential without being one
	// (public_key, publicToken, token_url, credentialsId, secret_length,
	// key_id): its value is kept, even when it looks random.
	namePublic
)

// CredentialName reports whether a key or parameter name names a
// credential. The name is read two ways: squeezed (lower case, letters and
// digits only, so "pass_word", "Pass-Word" and "passWord" all read
// "password") and as words (split at anything but a letter or digit and at
// camelCase boundaries, so "userPIN" is "user" and "pin", while "author"
// stays one word and does not match "auth"). A name whose credential word
// is qualified as something else (public_key, api_key_id, secret_length,
// access_token_url, credentialsId, UserSecretsId) is not a credential
// name.
func CredentialName(name string) bool {
	return mayNameCredential(name) && classifyName(name) == nameSecret
}

// mayNameCredential is CredentialName's quick rejection: a name holds a
// credential word (squeezed: pass_word holds "pass"), found through the
// keyword prefilter's bitmap, or it is no credential name.
func mayNameCredential(name string) bool {
	var h uint16
	n := 0
	for i := 0; i < len(name) && n < 128; i++ {
		c := name[i]
		if !isAlnum(c) {
			continue
		}
		h = (h<<5 | uint16(class[c]&codeMask)) & (triSize - 1)
		if n >= 1 && triBits[h>>6]&(1<<(h&63)) != 0 {
			for _, e := range lookupTri(h) {
				if keywords[e.kw].cred && n >= int(e.back) {
					return true // a candidate: classifyName decides
				}
			}
		}
		n++
	}
	return false
}

func classifyName(name string) nameKind {
	if len(name) == 0 || len(name) > 128 {
		return nameNone
	}
	var sq [128]byte
	var words [64]struct{ start, end int } // offsets into sq
	n, nw := 0, 0
	inWord := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) {
			inWord = false
			continue
		}
		// camelCase: a new word starts at an upper-case letter after a
		// lower-case one or a digit ("userPin"), and at the last upper-case
		// letter of a run followed by a lower-case one ("PINCode").
		boundary := !inWord
		if inWord && isUpper(c) {
			prev := name[i-1]
			if isLower(prev) || isDigit(prev) ||
				isUpper(prev) && i+1 < len(name) && isLower(name[i+1]) {
				boundary = true
			}
		}
		if boundary {
			if nw > 0 {
				words[nw-1].end = n
			}
			if nw == len(words) {
				return nameNone // a name of 64 words is no key
			}
			words[nw].start = n
			nw++
		}
		inWord = true
		sq[n] = lower(c)
		n++
	}
	if nw == 0 {
		return nameNone
	}
	words[nw-1].end = n
	s := sq[:n]
	word := func(i int) string { return string(s[words[i].start:words[i].end]) }

	last := -1 // the last word that names a credential
	for wi := 0; wi < nw; wi++ {
		if secretWord(word(wi)) {
			last = wi
		}
	}
	if last < 0 {
		// A credential word spread over several ("pass_word",
		// "p_a_s_s_w_o_r_d"): find where the fragment ends.
		for _, frag := range secretFragments {
			if k := index(s, frag); k >= 0 && !insideNotSecretWord(s, k) {
				end := k + len(frag)
				for wi := 0; wi < nw; wi++ {
					if words[wi].start < end && end <= words[wi].end {
						last = max(last, wi)
					}
				}
			}
		}
	}
	if last < 0 {
		switch string(s) {
		case "key", "code", "session":
			return nameSecret
		}
		w := word(nw - 1)
		if w == "session" && nw > 1 { // "user_session", not "session_count"
			return nameSecret
		}
		if w == "code" && nw > 1 {
			switch word(nw - 2) {
			case "mfa", "verification", "verify", "reset", "recovery", "backup", "confirmation",
				"confirm", "security", "sms", "login", "access", "activation", "2fa", "auth", "otp", "pin":
				return nameSecret
			}
		}
		return nameNone
	}
	for wi := last + 1; wi < nw; wi++ {
		if qualifierAfter(word(wi)) {
			return namePublic
		}
	}
	for wi := 1; wi < last; wi++ {
		if word(wi) == "to" {
			return nameNone // keyVaultToStoreSecrets, pathToSecret: where, not what
		}
	}
	if last > 0 {
		switch word(last) {
		case "key", "keys", "token", "tokens":
			if qualifierBefore(word(last - 1)) {
				return namePublic
			}
		}
	}
	return nameSecret
}

// secretWord reports a word that names a credential by itself.
func secretWord(w string) bool {
	switch w {
	case "pass", "pwd", "pw", "pin", "otp", "totp", "hotp", "sig", "cvv", "cvv2", "cvc", "cvc2",
		"ssn", "auth", "csrf", "xsrf", "sid", "iban", "jwt", "bearer", "key", "keys", "cred", "creds",
		"secrete", "passwd", "pswd", "passw":
		return true
	}
	if len(w) < 5 {
		return false
	}
	for _, x := range notSecretWords {
		if hasPrefix(w, x) {
			return false
		}
	}
	for _, frag := range secretFragments {
		if index(w, frag) >= 0 {
			return true
		}
	}
	return false
}

// secretFragments name a credential wherever they stand in a word or in
// the squeezed name.
var secretFragments = [...]string{
	"password", "passwd", "passphrase", "passcode", "secret", "token", "apikey",
	"accesskey", "privatekey", "signingkey", "encryptionkey", "secretkey", "credential", "cookie",
	"signature", "authorization", "sessionid", "sessid", "sessionkey", "creditcard",
	"cardnumber", "passwort", "kennwort", "motdepasse", "contrasena", "wachtwoord",
}

// insideNotSecretWord reports whether the fragment at s[k:] lies in one
// of notSecretWords.
func insideNotSecretWord(s []byte, k int) bool {
	for _, x := range notSecretWords {
		for a := max(0, k-len(x)); a <= k && a+len(x) <= len(s); a++ {
			if string(s[a:a+len(x)]) == x {
				return true
			}
		}
	}
	return false
}

// notSecretWords are words that hold a fragment without meaning it.
var notSecretWords = [...]string{"secretar", "tokeniz", "tokenis", "jsonwebtoken"}

// qualifierAfter reports a word that, after a credential word, makes the
// name one about the credential rather than of it: its identifier, length,
// location, type or expiry.
func qualifierAfter(w string) bool {
	switch w {
	case "id", "ids", "uuid", "guid", "name", "names", "url", "uri", "urls", "endpoint", "endpoints", "link",
		"length", "len", "size", "count", "num", "type", "types", "file", "filename", "path", "dir", "folder",
		"location", "version", "format", "expiry", "expires", "expiration", "expire", "expired", "ttl",
		"timeout", "lifetime", "age", "enabled", "enable", "disabled", "required", "policy", "policies",
		"mode", "field", "fields", "label", "hint", "method", "methods", "provider", "algorithm", "alg",
		"strength", "min", "max", "minimum", "maximum", "rule", "rules", "regex", "pattern", "placeholder",
		"hash", "fingerprint", "checksum", "source", "selector", "pressed", "press", "event", "events",
		"up", "down", "left", "right", "store", "storetype", "vault", "manager", "variable", "var", "prefix",
		"suffix", "chars", "characters", "alphabet", "charset", "index", "idx", "status", "state", "error",
		"errors", "message", "msg", "description", "desc", "help", "title", "template", "validation",
		"validator", "changed", "updated", "created", "date", "time", "user", "username", "email", "issuer",
		"audience", "scope", "scopes", "role", "roles", "group", "region", "ref", "refs", "reference", "arn",
		"kind", "class", "bits", "level", "parameter", "param", "params", "mapping", "pair", "ring",
		"board", "frame", "stone", "alias", "usage", "attribute", "attr", "column", "spec",
		"schema", "property", "properties", "key2", "sha", "md5", "entropy", "rotation", "header",
		"headers", "position", "offset", "secs", "seconds", "ms", "days", "hours", "minutes", "at":
		return true
	}
	return false
}

// qualifierBefore reports a word that, before "key" or "token", names a
// key or token that is no credential (public_key, primaryKey, sortKey,
// publicToken, page_token).
func qualifierBefore(w string) bool {
	switch w {
	case "public", "pub", "publishable", "primary", "foreign", "sort", "partition", "hot", "bucket",
		"idx", "index", "natural", "schema", "sequence", "row", "unique", "composite", "cache", "map",
		"dict", "object", "lookup", "hash", "range", "shard", "surrogate", "candidate", "compound",
		"idempotency", "dedup", "dedupe", "cursor", "pagination", "page", "next", "continuation",
		"translation", "i18n", "locale", "site", "issuer", "sync", "group", "routing", "query", "foreignkey":
		return true
	}
	return false
}

func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }
func isAlpha(c byte) bool { return isLower(c) || isUpper(c) }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// index returns the first index of sub in s, or -1.
func index[T string | []byte](s T, sub string) int {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			if s[i+j] != sub[j] {
				continue outer
			}
		}
		return i
	}
	return -1
}
