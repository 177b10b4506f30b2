package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sessionStore is the toy session table: cookie value → user. A single
// instance keeps it in memory; several instances behind a load balancer
// keep it in Redis, so a session opened on one instance is known to all
// and a logout on one ends it on all.
type sessionStore interface {
	// create opens a session for user and returns its ID.
	create(ctx context.Context, user string) (string, error)
	// user returns the session's user, or "" when the session is unknown,
	// expired or ended. An error means the store could not answer.
	user(ctx context.Context, id string) (string, error)
	// remove ends the session.
	remove(ctx context.Context, id string) error
	// removePublic ends the session whose public ID (publicSessionID) is
	// pub, as the dashboard's revoke names it; no such session is not an
	// error.
	removePublic(ctx context.Context, pub string) error
}

// publicSessionID is a session's name in the security log, the session
// table and the dashboard: a hash of the cookie, so whoever reads them (an
// admin included) never learns a cookie that would let them act as the
// user.
func publicSessionID(cookie string) string {
	h := sha256.Sum256([]byte("secmon-httpserver-session\x00" + cookie))
	return "s-" + hex.EncodeToString(h[:12])
}

// sessionIDLen is the length of a session ID: 16 random bytes in hex.
const sessionIDLen = 32

// validSessionID reports whether id has the shape create gives IDs, so an
// attacker's cookie never reaches a store as a key of its choosing.
func validSessionID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

var errTooManySessions = errors.New("too many sessions")

// memorySessions holds at most max sessions; logins beyond it are refused.
type memorySessions struct {
	mu  sync.Mutex
	max int
	m   map[string]string
}

func newMemorySessions(max int) *memorySessions {
	return &memorySessions{max: max, m: map[string]string{}}
}

func (s *memorySessions) create(_ context.Context, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		return "", errTooManySessions
	}
	id := randomHex(sessionIDLen / 2)
	s.m[id] = user
	return id, nil
}

func (s *memorySessions) user(_ context.Context, id string) (string, error) {
	if !validSessionID(id) {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id], nil
}

func (s *memorySessions) remove(_ context.Context, id string) error {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
	return nil
}

// removePublic scans the table: revocations are rare.
func (s *memorySessions) removePublic(_ context.Context, pub string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.m {
		if publicSessionID(id) == pub {
			delete(s.m, id)
		}
	}
	return nil
}

// Redis sessions: one string key per session, prefix + "sess:" + ID, that
// expires after sessionTTL. Each call waits at most sessionTimeout.
const (
	sessionTTL     = 12 * time.Hour
	sessionTimeout = time.Second
)

type redisSessions struct {
	client redis.UniversalClient
	prefix string
}

func (s *redisSessions) key(id string) string { return s.prefix + "sess:" + id }

// pubKey names the key that maps a public session ID to the session, for
// removePublic. The two keys may live on different cluster nodes, so they
// are written and removed one after the other, not in a transaction.
func (s *redisSessions) pubKey(pub string) string { return s.prefix + "sesspub:" + pub }

func (s *redisSessions) create(ctx context.Context, user string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	id := randomHex(sessionIDLen / 2)
	ok, err := s.client.SetNX(ctx, s.key(id), user, sessionTTL).Result()
	if err != nil {
		return "", fmt.Errorf("session store: %w", err)
	}
	if !ok {
		return "", errors.New("session store: session ID collision")
	}
	if err := s.client.Set(ctx, s.pubKey(publicSessionID(id)), id, sessionTTL).Err(); err != nil {
		s.client.Del(context.WithoutCancel(ctx), s.key(id))
		return "", fmt.Errorf("session store: %w", err)
	}
	return id, nil
}

func (s *redisSessions) user(ctx context.Context, id string) (string, error) {
	if !validSessionID(id) {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	u, err := s.client.Get(ctx, s.key(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("session store: %w", err)
	}
	return u, nil
}

func (s *redisSessions) remove(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	if err := s.client.Del(ctx, s.key(id)).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	if err := s.client.Del(ctx, s.pubKey(publicSessionID(id))).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

func (s *redisSessions) removePublic(ctx context.Context, pub string) error {
	if len(pub) > 64 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	id, err := s.client.Get(ctx, s.pubKey(pub)).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return s.remove(ctx, id)
}
