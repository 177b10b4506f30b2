package redact

// The assignment scanner: a credential name found by the keyword prefilter,
// then what the value syntax around it assigns to it. It reads the forms of
// configuration files, source code, command lines, logs and prose:
//
//	password=…  password: …  password = "…"  "password": "…"  password => "…"
//	apiToken := "…"  X_TOKEN ::= "…"  X_TOKEN ?= "…"  $token .= "…"  token += "…"
//	var apiToken string = "…"  val token: String = "…"  char secret[25] = "…"
//	if (password == "…")  if ("…" === password)  std::string secret("…")
//	setProperty("X_TOKEN", "…")  <add key="Password" value="…"/>
//	{"name": "api_token", "value": "…"}  <password>…</password>
//	?access_token=…&  token%3D…  password\u003d…  --password …
//	"my password is …"  "pwd: …"
//
// Quoted values go whole, whatever they hold. An unquoted value runs to the
// end of its line, stopping before the next name=value pair, a comment, a
// query-string separator or a closing quote, so a pass phrase with spaces or
// punctuation goes whole too. Values that are no secret are kept: empty
// ones, placeholders (${VAR}, {{ var }}, %s, <password>), references to
// code (os.environ["X"], config.password, Foo.Bar), booleans and nulls,
// values already masked (********), single characters and values with no
// letter or digit.

// protect holds ranges whose names say they are no secret (public_key,
// token_url, credentialsId): the token scanners leave them alone.
type protect struct {
	list [8][2]int
	n    int
}

func (p *protect) add(start, end int) {
	if p.n < len(p.list) && start < end {
		p.list[p.n] = [2]int{start, end}
		p.n++
	}
}

func (p *protect) has(start, end int) bool {
	for _, r := range p.list[:p.n] {
		if r[0] <= start && end <= r[1] {
			return true
		}
	}
	return false
}

// isNameChar reports the bytes of a parameter name: letters, digits, '_',
// '-', '.', and the brackets of nested form names (user[password],
// password[]).
func isNameChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '[' || c == ']'
}

func isQuote(c byte) bool { return c == '"' || c == '\'' || c == '`' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// assign handles the keyword hit at p. It returns the end of the name the
// hit lies in, so other hits inside the same name are skipped.
func assign(s string, p int, sp *Spans, pr *protect) int {
	ns := p
	for ns > 0 && p-ns < 96 && (isNameChar(s[ns-1]) || encodedBracket(s, ns-3)) {
		if encodedBracket(s, ns-3) {
			ns -= 3
			continue
		}
		ns--
	}
	ne := p
	for ne < len(s) && ne-p < 96 && (isNameChar(s[ne]) || encodedBracket(s, ne)) {
		if encodedBracket(s, ne) {
			ne += 3
			continue
		}
		ne++
	}
	// A sentence's full stop or a dash is not part of the name.
	for ne > p && (s[ne-1] == '.' || s[ne-1] == '-') {
		ne--
	}
	for ns < p && (s[ns] == '.' || s[ns] == '-') {
		ns++
	}
	// An encoded '?' or '&' before the name (next=%2Freset%3Ftoken%3D…)
	// makes it a query parameter.
	encodedQuery := false
	if ns > 0 && s[ns-1] == '%' {
		for _, enc := range [...]string{"253f", "2526", "3f", "26"} {
			if ne-ns > len(enc) && hasPrefixFold(s[ns:], enc) {
				ns += len(enc)
				encodedQuery = true
				break
			}
		}
	}
	name := s[ns:ne]
	if isAuthScheme(name) {
		bearer(s, ne, sp)
		return ne
	}
	kind := classifyName(name)
	if kind == nameNone {
		return ne
	}
	if len(name) == 4 && hasPrefixFold(name, "code") && (ns == 0 || s[ns-1] != '?' && s[ns-1] != '&') {
		// A bare "code" is a credential as a URL parameter (an OAuth
		// authorization code: ?code=…), not in prose ("status code: 500").
		return ne
	}
	vs, ve, ok := assignedValue(s, ns, ne, kind == nameSecret)
	if !ok {
		if kind == nameSecret {
			reversed(s, ns, sp)
		}
		return ne
	}
	if kind == namePublic {
		pr.add(vs, ve)
		return ne
	}
	query := encodedQuery || ns > 0 && (s[ns-1] == '?' || s[ns-1] == '&')
	if !query && !strongName(name) && !tokenValue(s[vs:ve]) {
		return ne
	}
	sp.Add(vs, ve)
	return max(ne, ve) // hits inside the redacted value need no look
}

// strongName reports a credential name whose value goes whatever it is:
// passwords (people choose them: "hunter2" is one), secrets, PINs and
// one-time codes, card data, cookies and authorization headers, private
// keys. The value of a weaker name (token, key, auth, credentials) goes
// when it looks like a token (see tokenValue).
func strongName(name string) bool {
	var sq [128]byte
	n := 0
	for i := 0; i < len(name) && n < len(sq); i++ {
		if isAlnum(name[i]) {
			sq[n] = lower(name[i])
			n++
		}
	}
	s := sq[:n]
	for _, f := range [...]string{"pass", "pwd", "pswd", "secret", "pin", "otp", "cvv", "cvc", "ssn", "iban",
		"card", "cookie", "authorization", "privatekey", "kennwort", "motdepasse", "contrasena", "wachtwoord", "sess", "sid"} {
		if index(s, f) >= 0 {
			return true
		}
	}
	return n <= 3 && index(s, "pw") >= 0
}

// tokenValue reports whether the value of a token, key or credentials
// name looks like one, as gitleaks' generic rule judges: not letters
// alone, not of low entropy (under 3 bits a byte), and, when it has no
// spaces, free of gitleaks' stop words (common words that random tokens do
// not hold).
func tokenValue(v string) bool {
	letters := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isAlpha(c) || c == '_' || c == '.' || c == '-') {
			letters = false
			break
		}
	}
	if letters || shannon(v) < 3 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isTokenByte(v[i]) && v[i] != ':' {
			return true // not token-shaped: stop words say nothing
		}
	}
	return !hasStopWord(v)
}

// encodedBracket reports a URL-encoded bracket (%5B, %5D) at s[i:].
func encodedBracket(s string, i int) bool {
	return i >= 0 && i+3 <= len(s) && s[i] == '%' && s[i+1] == '5' && (lower(s[i+2]) == 'b' || lower(s[i+2]) == 'd')
}

// assignedValue finds the value assigned to the name s[ns:ne]. secret says
// whether prose forms ("password is …") are looked for too.
func assignedValue(s string, ns, ne int, secret bool) (vs, ve int, ok bool) {
	j := ne
	quoted := byte(0)
	if ns > 0 && isQuote(s[ns-1]) {
		quoted = s[ns-1]
		if j < len(s) && s[j] == quoted {
			j++
		} else if j+1 < len(s) && s[j] == '\\' && s[j+1] == quoted {
			j += 2
		} else {
			quoted = 0
		}
	} else if ns > 1 && s[ns-2] == '\\' && isQuote(s[ns-1]) {
		quoted = s[ns-1]
	}
	if ns >= 2 && s[ns-2] == '\\' && isQuote(s[ns-1]) && j+1 < len(s) && s[j] == '\\' && s[j+1] == s[ns-1] {
		j += 2 // {\"password\":\"…\"}
	}
	// <password>…</password>, also across lines.
	if ns > 0 && s[ns-1] == '<' && j < len(s) && s[j] == '>' {
		v := j + 1
		for v < len(s) && (isSpace(s[v]) || s[v] == '\n') {
			v++
		}
		w := v
		for w < len(s) && s[w] != '<' {
			w++
		}
		for w > v && (isSpace(s[w-1]) || s[w-1] == '\n') {
			w--
		}
		return v, w, v < w
	}
	// <entry key="…" value="…"/>: "key" names the entry; namedValue reads
	// the name in its value.
	if quoted == 0 && (len(s[ns:ne]) == 3 && hasPrefixFold(s[ns:], "key")) && j+1 < len(s) && s[j] == '=' && isQuote(s[j+1]) && insideTag(s, ns) {
		return 0, 0, false
	}
	// key="Password" value="…", {"name": "api_token", "value": "…"}
	if quoted != 0 {
		if vs, ve, ok := namedValue(s, ns, j); ok {
			return vs, ve, true
		}
	}
	k := j
	for k < len(s) && k-j < 24 && isSpace(s[k]) {
		k++
	}
	spaced := k > j
	// A type between the name and '=' (var apiToken string = "…").
	if spaced && k < len(s) && isAlpha(s[k]) {
		t := k
		for t < len(s) && t-k < 24 && (isAlnum(s[t]) || s[t] == '.' || s[t] == '[' || s[t] == ']' || s[t] == '*') {
			t++
		}
		u := t
		for u < len(s) && isSpace(s[u]) {
			u++
		}
		if u > t && u < len(s) && s[u] == '=' && (u+1 >= len(s) || s[u+1] != '=') {
			k = u
		}
	}
	op, opLen := operator(s, k)
	switch {
	case opLen > 0:
	case k < len(s) && (isQuote(s[k]) || s[k] == '@' && k+1 < len(s) && s[k+1] == '"') && (spaced || quoted != 0):
		// password "…"; (a space, or a quoted name, then a quoted value)
		opLen = 0
		op = ' '
	case secret && spaced:
		return prose(s, ns, k)
	default:
		return 0, 0, false
	}
	if op == ',' && quoted == 0 {
		return 0, 0, false // "a, b": a list, not setProperty("X_TOKEN", "…")
	}
	if op == '(' && (k+opLen >= len(s) || !isQuote(s[k+opLen]) && s[k+opLen] != '@') {
		return 0, 0, false // a call, not a constructor with a string
	}
	v := k + opLen
	for v < len(s) && v-k < 32 && isSpace(s[v]) {
		v++
	}
	if op == ':' {
		// val token: String = "…"
		t := v
		for t < len(s) && t-v < 24 && (isAlnum(s[t]) || s[t] == '.' || s[t] == '?') {
			t++
		}
		u := t
		for u < len(s) && isSpace(s[u]) {
			u++
		}
		if t > v && isUpper(s[v]) && u < len(s) && s[u] == '=' && (u+1 >= len(s) || s[u+1] != '=') {
			v = u + 1
			for v < len(s) && isSpace(s[v]) {
				v++
			}
		}
	}
	query := ns > 0 && (s[ns-1] == '?' || s[ns-1] == '&' || s[ns-1] == '%' || s[ns-1] == ';' && op == '=')
	// name=value with no space around '=' is one token, as in a shell, a
	// query string or a log line (password=hunter2 failed); a spaced or
	// ':' operator (YAML, configuration, headers) takes the rest of the line.
	tight := op == '=' && opLen == 1 && !spaced && v == k+1
	return value(s, ns, ne, v, query || tight)
}

// operator returns the assignment or comparison operator at s[k:] and its
// length, or 0.
func operator(s string, k int) (byte, int) {
	if k >= len(s) {
		return 0, 0
	}
	rest := s[k:]
	for _, op := range [...]string{":::=", "::=", ":=", "?=", ".=", "+=", "??=", "||=", "===", "!==", "==", "!=", "=>", "->", "=", ":"} {
		if hasPrefix(rest, op) {
			if op == ":" && len(rest) > 1 && rest[1] == ':' {
				return 0, 0 // std::string
			}
			if op == ":" && len(rest) > 2 && rest[1] == '/' && rest[2] == '/' {
				return 0, 0 // scheme://
			}
			return op[0], len(op)
		}
	}
	switch {
	case hasPrefixFold(rest, "%3d"):
		return '=', 3
	case hasPrefixFold(rest, "%253d"):
		return '=', 5
	case hasPrefixFold(rest, `\u003d`):
		return '=', 6
	case rest[0] == ',':
		return ',', 1
	case rest[0] == '(':
		return '(', 1
	}
	return 0, 0
}

// value returns the value starting at v: a quoted string's content, or an
// unquoted run (see the file comment).
func value(s string, ns, ne, v int, query bool) (int, int, bool) {
	if v >= len(s) {
		return 0, 0, false
	}
	if v > 0 && isSpace(s[v-1]) && !wholeHeader(s[ns:ne]) && nextIsPair(s, v-1) {
		return 0, 0, false // nothing assigned: the next line's pair follows
	}
	// Prefixes of string literals: C#'s @"…", Python's b'…', r"…", f"…".
	if v+1 < len(s) && isQuote(s[v+1]) && (s[v] == '@' || s[v] == 'b' || s[v] == 'r' || s[v] == 'f' || s[v] == 'u') {
		v++
	}
	if v+1 < len(s) && s[v] == '\\' && isQuote(s[v+1]) {
		// An escaped quote: {\"password\":\"…\"}
		q := s[v+1]
		w := v + 2
		for w+1 < len(s) && !(s[w] == '\\' && s[w+1] == q) {
			w++
		}
		if w+1 >= len(s) {
			w = len(s)
		}
		return checked(s, v+2, w)
	}
	if isQuote(s[v]) {
		q := s[v]
		w := v + 1
		for w < len(s) && s[w] != q && s[w] != '\n' {
			if s[w] == '\\' && w+1 < len(s) {
				w++
			}
			w++
		}
		if w > len(s) {
			w = len(s)
		}
		if q == '`' && containsByte(s[v+1:w], ' ') {
			return 0, 0, false // a shell command's output: `etcdctl get /secret`
		}
		if restates(s[ns:ne], s[v+1:w]) {
			return 0, 0, false
		}
		return checked(s, v+1, w)
	}
	// A template or shell placeholder ({{ var }}, ${VAR}, $(cmd), {% … %})
	// names the value instead of holding it.
	for _, ph := range [...][2]string{{"{{", "}}"}, {"${", "}"}, {"$(", ")"}, {"{%", "%}"}} {
		if hasPrefix(s[v:], ph[0]) {
			end := v + len(ph[0])
			for end < len(s) && s[end] != '\n' && !hasPrefix(s[end:], ph[1]) {
				end++
			}
			if end < len(s) && hasPrefix(s[end:], ph[1]) {
				return 0, 0, false
			}
		}
	}
	header := wholeHeader(s[ns:ne])
	// A header written inside quotes (-H "Authorization: …") ends at
	// the closing quote; otherwise quotes belong to it (Digest
	// username="…", response="…").
	headerQuote := byte(0)
	if header && ns > 0 && isQuote(s[ns-1]) {
		headerQuote = s[ns-1]
	}
	w := v
	for w < len(s) {
		c := s[w]
		if c == '\n' || c == '\r' {
			break
		}
		if header {
			if c == '&' || c == headerQuote || c == '<' || c == '>' || c == '\\' && w+1 < len(s) && isQuote(s[w+1]) {
				break
			}
			w++
			continue
		}
		if c == '&' || c == ';' || isQuote(c) || c == '<' {
			break
		}
		if c == '\\' && w+1 < len(s) && (s[w+1] == 'n' || s[w+1] == 'r' || s[w+1] == 't' || isQuote(s[w+1])) {
			break // an escaped line break or quote inside a string
		}
		if isSpace(c) {
			if query || w == v {
				break
			}
			if nextIsPair(s, w) {
				break
			}
		}
		w++
	}
	for w > v && (isSpace(s[w-1]) || s[w-1] == ',' || s[w-1] == ';' || s[w-1] == '\\') {
		w--
	}
	if !header && !query && w-v < 64 && codeReference(s[v:w]) {
		return 0, 0, false
	}
	if header {
		// "Bearer $API_KEY", "Token **********", "Basic <credentials>":
		// the credential after the scheme decides.
		if w-v <= 12 && isAuthSchemeWord(s[v:w]) {
			return 0, 0, false // the credential is a placeholder cut off by '<'
		}
		c := v
		for c < w && isAlpha(s[c]) {
			c++
		}
		if c < w && isSpace(s[c]) && c-v <= 12 {
			d := c
			for d < w && isSpace(s[d]) {
				d++
			}
			if _, _, ok := checked(s, d, w); !ok || codeReference(s[d:w]) {
				return 0, 0, false
			}
		}
	}
	return checked(s, v, w)
}

// nextIsPair reports whether the text after the space at s[w] starts a
// new pair (name=, name: ), a comment (#, //) or a closing brace.
func nextIsPair(s string, w int) bool {
	k := w
	for k < len(s) && isSpace(s[k]) {
		k++
	}
	if k >= len(s) {
		return true
	}
	if s[k] == '#' || hasPrefix(s[k:], "//") || s[k] == '}' {
		return true
	}
	t := k
	for t < len(s) && t-k < 64 && (isNameChar(s[t]) || s[t] == '"' || s[t] == '\'') {
		t++
	}
	if t == k {
		return false
	}
	u := t
	for u < len(s) && isSpace(s[u]) {
		u++
	}
	if u < len(s) && (s[u] == '=' || s[u] == ':' && (u+1 >= len(s) || s[u+1] != '/')) {
		return true
	}
	return false
}

// checked returns s[v:w] as a value unless it is none of a secret.
func checked(s string, v, w int) (int, int, bool) {
	if w <= v || notSecretValue(s[v:w]) {
		return 0, 0, false
	}
	return v, w, true
}

// notSecretValue reports values that are kept under a credential name.
func notSecretValue(x string) bool {
	alnum, masked := 0, true
	for i := 0; i < len(x); i++ {
		c := x[i]
		if isAlnum(c) {
			alnum++
		}
		if c != '*' && c != 'x' && c != 'X' && c != '.' && c != '-' && c != '#' {
			masked = false
		}
	}
	if alnum == 0 || len(x) < 2 || masked && len(x) >= 3 || placeholderValue(x) {
		return true
	}
	t := x
	for len(t) > 0 && isSpace(t[len(t)-1]) {
		t = t[:len(t)-1]
	}
	if last := t[len(t)-1]; last == ':' || len(t) >= 2 && last == '=' && t[len(t)-2] == ' ' {
		return true // "name = " or "name:": the quote closed another string
	}
	if x[0] == '<' && len(x) > 1 && isAlpha(x[1]) && containsByte(x, ' ') {
		return true // markup: "<xsd:element name=": the quote closed another string
	}
	if constantName(x) {
		return true // ACCESS_TOKEN, YOUR_API_KEY: a variable's name
	}
	if len(x) >= 4 {
		switch {
		case hasPrefix(x, "${") && x[len(x)-1] == '}',
			hasPrefix(x, "{{") && hasSuffix(x, "}}"),
			hasPrefix(x, "$(") && x[len(x)-1] == ')',
			hasPrefix(x, "%(") && hasSuffix(x, ")s"),
			hasPrefix(x, "<%") && hasSuffix(x, "%>"),
			x[0] == '<' && x[len(x)-1] == '>' && !containsByte(x[1:len(x)-1], '<'),
			x[0] == '{' && x[len(x)-1] == '}' && !containsByte(x, ' ') && !containsByte(x, '"'):
			return true
		}
	}
	if x == "%s" || x == "%v" || x == "%q" {
		return true
	}
	if len(x) <= 9 {
		var b [9]byte
		for i := 0; i < len(x); i++ {
			b[i] = lower(x[i])
		}
		switch string(b[:len(x)]) {
		case "null", "nil", "none", "true", "false", "undefined", "yes", "no", "on", "off", "empty", "redacted", "[redacted]", "hidden", "masked", "changeme":
			return true
		}
	}
	return false
}

// restates reports a value that spells its own name (KeyMeshing =
// "id-Gost28147-89-None-KeyMeshing"): a constant naming itself.
func restates(name, v string) bool {
	var a, b [128]byte
	na, nb := 0, 0
	for i := 0; i < len(name) && na < len(a); i++ {
		if isAlpha(name[i]) {
			a[na] = lower(name[i])
			na++
		}
	}
	for i := 0; i < len(v) && nb < len(b); i++ {
		if isAlpha(v[i]) {
			b[nb] = lower(v[i])
			nb++
		}
	}
	// The name's last eight letters at the end of the value.
	if na < 8 || nb < 8 {
		return false
	}
	return string(a[na-8:na]) == string(b[nb-8:nb])
}

// constantName reports an upper-case identifier with an underscore, the
// name of a variable or constant standing for the value.
func constantName(x string) bool {
	under, letters := false, 0
	for i := 0; i < len(x); i++ {
		c := x[i]
		switch {
		case c == '_':
			under = true
		case isUpper(c):
			letters++
		case isDigit(c):
		default:
			return false
		}
	}
	return under && letters >= 4 && x[0] != '_' && isUpper(x[0])
}

// codeReference reports an unquoted value that names a variable or calls
// a function instead of holding a secret: os.environ["X"], getenv("X"),
// process.env.X, config.password, X25519.KeyPair, $DB_PASSWORD.
func codeReference(x string) bool {
	if hasPrefix(x, "new ") {
		x = x[4:]
	}
	if k := index(x, " "); k >= 0 {
		x = x[:k] // the first word decides: AWS.SharedIniFileCredentials({ …
	}
	if len(x) < 2 {
		return false
	}
	if x[0] == '$' && len(x) > 1 && (isUpper(x[1]) || x[1] == '_') {
		for i := 1; i < len(x); i++ {
			if !(isUpper(x[i]) || isDigit(x[i]) || x[i] == '_') {
				return false
			}
		}
		return true // $DB_PASSWORD
	}
	if !isAlpha(x[0]) && x[0] != '_' {
		return false
	}
	dots, i := 0, 0
	for i < len(x) {
		// one identifier
		if !(isAlpha(x[i]) || x[i] == '_') {
			return false
		}
		for i < len(x) && (isAlnum(x[i]) || x[i] == '_') {
			i++
		}
		if i == len(x) {
			return dots > 0
		}
		switch x[i] {
		case '.':
			dots++
			i++
			if i == len(x) {
				return false // a trailing full stop: prose
			}
		case '(', '[':
			return true // a call or an index: getenv("X"), os.environ["X"]
		default:
			return false
		}
	}
	return false
}

// namedValue handles a credential name given as the value of a naming
// attribute or field: <add key="Password" value="…"/>, <entry
// name="apiToken" value="…"/>, {"name": "api_token", "value": "…"}. The
// quoted name ends before j.
func namedValue(s string, ns, j int) (int, int, bool) {
	// What names it: key=, name=, "key": , "name": (quote at ns-1).
	b := ns - 1
	for b > 0 && isSpace(s[b-1]) {
		b--
	}
	if b == 0 || s[b-1] != '=' && s[b-1] != ':' {
		return 0, 0, false
	}
	b--
	for b > 0 && isSpace(s[b-1]) {
		b--
	}
	if b > 0 && isQuote(s[b-1]) {
		b--
	}
	a := b
	for a > 0 && b-a < 8 && isAlpha(s[a-1]) {
		a--
	}
	switch lowerString(s[a:b]) {
	case "key", "name", "id", "param", "property", "field", "variable", "var", "env":
	default:
		return 0, 0, false
	}
	// The value attribute or field, within the same element.
	end := min(len(s), j+200)
	for k := j; k+5 <= end; k++ {
		c := s[k]
		if c == '>' || c == '}' || c == '\n' {
			break
		}
		if !hasPrefixFold(s[k:], "value") || k > 0 && isAlnum(s[k-1]) {
			continue
		}
		v := k + 5
		if v < len(s) && isQuote(s[v]) {
			v++
		}
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		if v >= len(s) || s[v] != '=' && s[v] != ':' {
			continue
		}
		v++
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		if v < len(s) && isQuote(s[v]) {
			q := s[v]
			w := v + 1
			for w < len(s) && s[w] != q {
				w++
			}
			return checked(s, v+1, w)
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// insideTag reports whether s[i] stands inside a markup tag: a '<'
// before it on the same line with no '>' between.
func insideTag(s string, i int) bool {
	for k := i - 1; k >= 0 && i-k < 200; k-- {
		switch s[k] {
		case '<':
			return true
		case '>', '\n':
			return false
		}
	}
	return false
}

// reversed handles a comparison written value first: if ("…" == password).
func reversed(s string, ns int, sp *Spans) {
	k := ns
	if k > 0 && isQuote(s[k-1]) {
		return // a quoted name is not compared this way
	}
	for k > 0 && isSpace(s[k-1]) {
		k--
	}
	o := k
	for o > 0 && k-o < 3 && (s[o-1] == '=' || s[o-1] == '!') {
		o--
	}
	if k-o < 2 {
		return
	}
	for o > 0 && isSpace(s[o-1]) {
		o--
	}
	if o == 0 || !isQuote(s[o-1]) {
		return
	}
	q := s[o-1]
	a := o - 1
	for a > 0 && s[a-1] != q {
		a--
	}
	if a > 0 {
		if vs, ve, ok := checked(s, a, o-1); ok {
			sp.Add(vs, ve)
		}
	}
}

// prose handles "password is hunter2", "password was set to …" and
// "--password hunter2": the next word, unless it is a common word.
func prose(s string, ns, k int) (int, int, bool) {
	flag := ns >= 2 && s[ns-1] == '-' && s[ns-2] == '-'
	v := k
	if !flag {
		verbs := [...]string{"is now ", "is set to ", "was set to ", "set to ", "changed to ", "reset to ", "is: ", "is ", "was ", "equals ", "of "}
		found := false
		for _, vb := range verbs {
			if hasPrefixFold(s[k:], vb) {
				v = k + len(vb)
				found = vb != "of " || false
				break
			}
		}
		if !found {
			return 0, 0, false
		}
	}
	for v < len(s) && isSpace(s[v]) {
		v++
	}
	if v < len(s) && isQuote(s[v]) {
		return value(s, ns, ns, v, false)
	}
	w := v
	for w < len(s) && !isSpace(s[w]) && s[w] != '\n' && s[w] != '"' && s[w] != '\'' && s[w] != '<' {
		w++
	}
	for w > v && (s[w-1] == '.' || s[w-1] == ',' || s[w-1] == ';' || s[w-1] == ':' || s[w-1] == '!' || s[w-1] == '?' || s[w-1] == ')') {
		w--
	}
	if w-v < 3 || flag && s[v] == '-' {
		return 0, 0, false
	}
	word := s[v:w]
	plain := true // lower-case letters only
	for i := 0; i < len(word); i++ {
		if !isLower(word[i]) && !(i == 0 && isUpper(word[i])) {
			plain = false
		}
	}
	if plain && (len(word) < 6 || commonWord(lowerString(word))) {
		return 0, 0, false
	}
	return checked(s, v, w)
}

// commonWord lists words that follow "password is" in prose about a
// password rather than in a disclosure of one.
func commonWord(w string) bool {
	switch w {
	case "required", "invalid", "incorrect", "wrong", "expired", "missing", "empty", "correct", "valid",
		"changed", "weak", "strong", "being", "still", "blank", "locked", "mandatory", "optional",
		"sensitive", "stored", "hashed", "encrypted", "protected", "needed", "updated", "provided",
		"given", "shown", "hidden", "saved", "secure", "insecure", "compromised", "known", "unknown",
		"always", "never", "enough", "similar", "identical", "correctly", "successfully",
		"automatically", "generated", "emailed", "displayed", "printed", "logged", "accepted",
		"rejected", "entered", "expiring", "expires", "disabled", "enabled", "unchanged", "reused",
		"shared", "leaked", "exposed", "checked", "verified", "matched", "mismatch", "different",
		"another", "something", "nothing", "anything", "because", "probably", "actually", "currently",
		"already", "usually", "typically", "generally", "stronger", "weaker", "longer", "shorter",
		"complex", "simple", "secret", "private", "personal", "temporary", "default", "configured",
		"specified", "supplied", "available", "unavailable", "required.", "forgotten", "incomplete",
		"hunter", "cleared", "removed", "deleted", "created", "assigned", "issued", "revoked":
		return true
	}
	return false
}

// isAuthScheme reports the HTTP authentication schemes whose credential
// follows as the next word.
func isAuthScheme(w string) bool {
	return len(w) == 6 && hasPrefixFold(w, "bearer") || len(w) == 5 && hasPrefixFold(w, "basic")
}

// bearer redacts the credential after "Bearer" or "Basic" at s[:e].
func bearer(s string, e int, sp *Spans) {
	v := e
	for v < len(s) && v-e < 4 && isSpace(s[v]) {
		v++
	}
	if v == e {
		return
	}
	w := v
	for w < len(s) && !isWordSep(s[w]) && s[w] != '&' {
		w++
	}
	for w > v && (s[w-1] == '.' || s[w-1] == ':' || s[w-1] == '!' || s[w-1] == '?') {
		w--
	}
	if w-v >= 8 && credentialLike(s[v:w]) && !codeReference(s[v:w]) && !notSecretValue(s[v:w]) {
		sp.Add(v, w)
	}
}

// credentialLike reports whether a word after Bearer/Basic looks like a
// credential rather than prose ("basic authentication").
func credentialLike(w string) bool {
	k, _ := kindsOf(w)
	return k&(kindDigit|kindOther) != 0 || k&(kindUpper|kindLower) == kindUpper|kindLower
}

// isAuthSchemeWord reports the HTTP authentication scheme names.
func isAuthSchemeWord(w string) bool {
	switch lowerString(w) {
	case "bearer", "basic", "digest", "token", "negotiate", "ntlm", "hoba", "mutual", "aws4-hmac-sha256":
		return true
	}
	return false
}

// wholeHeader reports names whose unquoted value runs to the end of the
// header: Authorization, Proxy-Authorization, Cookie, Set-Cookie.
func wholeHeader(name string) bool {
	n := len(name)
	return n >= 6 && hasPrefixFold(name[n-6:], "cookie") ||
		n >= 13 && hasPrefixFold(name[n-13:], "authorization")
}

func hasSuffix(s, x string) bool { return len(s) >= len(x) && s[len(s)-len(x):] == x }

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func lowerString(s string) string {
	for i := 0; i < len(s); i++ {
		if isUpper(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}
