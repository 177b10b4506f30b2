package rediscluster

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redirects counts the redirections and refusals the masters answered, as
// each node's client saw them before go-redis followed them: a test moving
// a slot uses it to prove its traffic met the move.
type Redirects struct {
	Moved, Ask, TryAgain atomic.Int64
}

func (r *Redirects) note(err error) {
	if err == nil {
		return
	}
	switch s := err.Error(); {
	case strings.HasPrefix(s, "MOVED "):
		r.Moved.Add(1)
	case strings.HasPrefix(s, "ASK "):
		r.Ask.Add(1)
	case strings.HasPrefix(s, "TRYAGAIN"):
		r.TryAgain.Add(1)
	}
}

// RequireMovedAndAsk fails t unless the masters answered both MOVED and
// ASK: traffic sent while a slot moved met every stage of the move.
func (r *Redirects) RequireMovedAndAsk(t testing.TB) {
	t.Helper()
	if r.Moved.Load() == 0 || r.Ask.Load() == 0 {
		t.Fatalf("%d MOVED and %d ASK seen: the traffic did not meet every stage of the move", r.Moved.Load(), r.Ask.Load())
	}
}

// DialHook implements redis.Hook.
func (r *Redirects) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *Redirects) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		// The error reaches the command only after the hooks return.
		err := next(ctx, cmd)
		r.note(err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *Redirects) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			r.note(cmd.Err())
		}
		return err
	}
}

// WatchedClient is Client with every node's client reporting to the
// returned Redirects.
func (c *Cluster) WatchedClient(t testing.TB) (*redis.ClusterClient, *Redirects) {
	t.Helper()
	r := &Redirects{}
	cl := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: c.Addrs(), ContextTimeoutEnabled: true, DialTimeout: time.Second,
		NewClient: func(opt *redis.Options) *redis.Client {
			nc := redis.NewClient(opt)
			nc.AddHook(r)
			return nc
		},
	})
	t.Cleanup(func() { _ = cl.Close() })
	return cl, r
}
