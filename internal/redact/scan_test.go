package redact

import (
	"strings"
	"testing"
)

var cleanKiB = strings.Repeat("user 42 opened /settings/display and changed the language to German; the request took 35 ms. ", 12)[:1024]

// BenchmarkScan measures Scan alone on a 1 KiB value without secrets and
// on one with a few.
func BenchmarkScan(b *testing.B) {
	for _, bc := range []struct{ name, v string }{
		{"1KiB-clean", cleanKiB},
		{"1KiB-secrets", cleanKiB[:900] + " password=hunter2 token: ghp_16C7e42F292c6912E7710c838347Ae178B4a bob@example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.v)))
			var sp Spans
			for b.Loop() {
				sp.Reset()
				Scan(bc.v, &sp)
			}
		})
	}
}

// FuzzScan: Scan never panics, and every range it records lies inside the
// value and in order.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"", cleanKiB, "password=hunter2", `apiToken := "Zq3vP9xL2mK8wR5t"`, "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
		`<add key="Password" value="x"/>`, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "bob%40example.com", "ey sk s. q~ pw",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sp Spans
		sp.Reset()
		Scan(s, &sp)
		for _, x := range sp.Sorted() {
			if x.Start < 0 || x.End > len(s) || x.Start >= x.End {
				t.Fatalf("span %d:%d outside %d bytes of %q", x.Start, x.End, len(s), s)
			}
		}
		if f := sp.From(); f > len(s) {
			t.Fatalf("From %d past %d bytes", f, len(s))
		}
	})
}

func TestCredentialName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"password": true, "pass_word": true, "p_a_s_s_w_o_r_d": true, "apiToken": true, "cloudant_key": true,
		"ibm_cloud_iam-key": true, "X-Api-Key": true, "client_secret": true, "JSESSIONID": true, "userPIN": true,
		"public_key": false, "publicToken": false, "credentialsId": false, "UserSecretsId": false,
		"secret_length": false, "access_token_url": false, "token_type": false, "keyword": false,
		"author": false, "primaryKey": false, "api_version": false, "keyVaultToStoreSecrets": false,
		"session_count": false, "error_code": false, "reason": false, "tokenizer": false,
	} {
		if got := CredentialName(name); got != want {
			t.Errorf("CredentialName(%q) = %v, want %v", name, got, want)
		}
	}
}
