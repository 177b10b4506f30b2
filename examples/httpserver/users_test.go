package main

import (
	"strings"
	"testing"
)

func TestReadUsers(t *testing.T) {
	users, err := readUsers(strings.NewReader("# accounts\nalice:pa:ss\r\n\nbob:x\n"))
	if err != nil || len(users) != 2 || users["alice"] != "pa:ss" || users["bob"] != "x" {
		t.Fatalf("readUsers: %v, %v", users, err)
	}
	for _, in := range []string{
		"", "# only a comment\n", "alice\n", ":pw\n", "alice:\n", "al\x00ice:pw\n", "alice:a\nalice:b\n",
		strings.Repeat("a", maxUserNameLen+1) + ":pw\n", "alice:" + strings.Repeat("p", maxPasswordLen+1) + "\n",
		"alice:" + strings.Repeat("p", maxUsersLineLen) + "\n",
	} {
		if _, err := readUsers(strings.NewReader(in)); err == nil {
			t.Errorf("readUsers(%q) accepted", in)
		} else if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "ppp") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// A users file never panics the reader, and what it accepts obeys the
// bounds.
func FuzzReadUsers(f *testing.F) {
	for _, seed := range []string{"alice:pw\n", "a:b\nc:d", "#x\n\n:\n", "a:" + strings.Repeat("x", 300), "\xff:\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		users, err := readUsers(strings.NewReader(in))
		if err != nil {
			return
		}
		for name, pw := range users {
			if name == "" || len(name) > maxUserNameLen || strings.Contains(name, ":") || pw == "" || len(pw) > maxPasswordLen {
				t.Fatalf("accepted %q:%q", name, pw)
			}
		}
	})
}
