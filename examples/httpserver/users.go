package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Bounds of a users file.
const (
	maxUsers        = 1_000_000
	maxUserNameLen  = 64
	maxPasswordLen  = 256
	maxUsersLineLen = 1024
)

// loadUsers reads the toy credential store from a file (see readUsers).
func loadUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readUsers(f)
}

// readUsers reads "user:password" lines; blank lines and lines starting
// with '#' are skipped. The user name may not hold ':' or control
// characters and is at most maxUserNameLen bytes, the password (the rest of
// the line) at most maxPasswordLen; a line is at most maxUsersLineLen bytes
// and there are at most maxUsers users, each once. Errors name the line,
// never its content: it holds a password.
func readUsers(r io.Reader) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxUsersLineLen)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, password, ok := strings.Cut(text, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("users: line %d: want user:password", line)
		case name == "" || len(name) > maxUserNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return nil, fmt.Errorf("users: line %d: user name empty, longer than %d bytes or holding control characters", line, maxUserNameLen)
		case password == "" || len(password) > maxPasswordLen:
			return nil, fmt.Errorf("users: line %d: password empty or longer than %d bytes", line, maxPasswordLen)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("users: line %d: user listed twice", line)
		}
		if len(users) == maxUsers {
			return nil, fmt.Errorf("users: more than %d users", maxUsers)
		}
		users[name] = password
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("users: line %d: longer than %d bytes", line+1, maxUsersLineLen)
		}
		return nil, fmt.Errorf("users: %w", err)
	}
	if len(users) == 0 {
		return nil, errors.New("users: no user")
	}
	return users, nil
}
