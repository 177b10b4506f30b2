// Package redact finds secrets and personal identifiers in short text
// values (log metadata), for secmon's PrivacyPolicy.
//
// # What it finds
//
// Scan combines three kinds of detection, all behind a keyword prefilter
// that costs a table lookup per byte and one per pair of bytes
// (keywords.go):
//
//   - assignments to credential names in the syntaxes of configuration
//     files, source code, command lines, headers and prose (assign.go);
//   - the rule set of gitleaks (github.com/gitleaks/gitleaks, MIT licence,
//     LICENSE.gitleaks), used as data: each rule's keywords gate its
//     regular expression, which runs on a window around the keyword, with
//     the rule's secret group, entropy threshold and allowlists;
//   - shapes that need no keyword: JWTs, random tokens, URL credentials,
//     chat webhook secrets, PEM private keys, e-mail addresses, card
//     numbers (Luhn) and IBANs (mod 97).
//
// # Keeping the rules current
//
// gitleaks_rules.go is generated from the gitleaks module the benchmarks
// module requires, together with the test suite in testdata/secrets:
//
//	cd benchmarks && go get github.com/zricethezav/gitleaks/v8@latest && go run ./cmd/gensecrets -root ..
//
// then run the root package's TestPrivacySecretSuites, which must still
// report recall of at least 95% and at most 5% of benign values changed.
package redact
