package secmon_test

import (
	"html"
	"strings"
	"testing"

	"github.com/secmon-go/secmon"
)

// TestPrivacyAssignmentSyntaxes: the secret in each line is gone, whatever
// syntax assigns it, and the text around it stays.
func TestPrivacyAssignmentSyntaxes(t *testing.T) {
	t.Parallel()
	const secret = "Zq3vP9xL2mK8wR5t"
	for _, line := range []string{
		`apiToken := "` + secret + `"`,
		`API_TOKEN ::= "` + secret + `"`,
		`API_TOKEN :::= "` + secret + `"`,
		`API_TOKEN ?= "` + secret + `"`,
		`$apiToken .= "` + secret + `"`,
		`"apiToken" => "` + secret + `"`,
		`var apiToken string = "` + secret + `"`,
		`val apiToken: String = "` + secret + `"`,
		`String apiToken = "` + secret + `";`,
		`System.setProperty("X_TOKEN", "` + secret + `")`,
		`<add key="Password" value="` + secret + `"/>`,
		`<entry name="apiToken" value="` + secret + `" />`,
		`{"name": "api_token", "value": "` + secret + `"}`,
		`<apiToken>` + secret + `</apiToken>`,
		"<apiToken>\n    " + secret + "\n</apiToken>",
		`if ("` + secret + `" == password) {`,
		`std::string secret("` + secret + `");`,
		`char secret[25] = "` + secret + `";`,
		`password = @"` + secret + `";`,
		`{"config.ini": "API_TOKEN=` + secret + `\nDEBUG=true"}`,
		`environment = {PATH=/usr/bin, DB_PASSWORD=` + secret + `, LANG=C}`,
		`cloudant_key: ` + secret,
		`ibm_cloud_iam-key = ` + secret,
		"password: correct horse " + secret + " staple",
		`my password is ` + secret,
		`pwd: ` + secret,
		`--password ` + secret,
		`/cb?access_token=` + secret + `&state=1`,
	} {
		got := html.UnescapeString(clean(t, nil, line))
		if strings.Contains(got, secret) {
			t.Errorf("%q\n  kept the secret: %q", line, got)
		}
		if !strings.Contains(got, secmon.Redacted) {
			t.Errorf("%q\n  nothing redacted: %q", line, got)
		}
	}
}

// TestPrivacyBenignLookAlikes: values that look like secrets to a naive
// scanner stay unchanged.
func TestPrivacyBenignLookAlikes(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"commit 3c593ae4b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6",
		"sha256 d2c7f2a4b9e81a3c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4",
		"8b1118b376c313ed420e5133ba91307817ed52c2",
		"user 0190f6d2-3b7c-7e4a-9f1e-2a6b8c0d4e5f",
		"credentialsId: ff083f76-7804-4ef1-80e4-fe975bb9141b",
		"UserSecretsId=79a3edd0-2092-40a2-a04d-dcb46d5ca9ed",
		"public_key = 9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit",
		"publicToken: 9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit",
		"secret_length = 32",
		"access_token_url=https://github.com/login/oauth/access_token",
		"token_type: bearer",
		"keyword: Befaehigung_P2",
		"the password is required",
		"password combination",
		"api_key: ${API_KEY}",
		"password: {{ vault_password }}",
		"password=",
		"a task skipped, desk booked, asking",
		"OrganizationMembershipInvitationRevokedEvent2024",
		"GET /api/v1/users/42/keys?page=2",
	} {
		if got := html.UnescapeString(clean(t, nil, v)); got != v {
			t.Errorf("%q changed to %q", v, got)
		}
	}
}

// TestPrivacyNoFalseMarker: a redaction never leaves text that looks
// redacted but is not: the name and operator stay whole before the marker.
func TestPrivacyNoFalseMarker(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`name := "secret"`:          `name := "secret"`,
		`token := "Zq3vP9xL2mK8wR"`: `token := "` + secmon.Redacted + `"`,
		`a ::= b`:                   `a ::= b`,
	} {
		if got := html.UnescapeString(clean(t, nil, in)); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
