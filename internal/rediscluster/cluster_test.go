package rediscluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/secmon-go/secmon/internal/testenv"
)

func TestMain(m *testing.M) { VerifyMain(testenv.M(m)) }

// Two tests sharing one cluster see the same servers.
func TestShared(t *testing.T) {
	t.Parallel()
	a, b := Shared(t), Shared(t)
	if a != b || len(a.Addrs()) != 3 {
		t.Fatalf("Shared returned %p and %p (%v)", a, b, a.Addrs())
	}
	if err := a.Client(t).Set(context.Background(), "shared", "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCRC16(t *testing.T) {
	// The check value of CRC-16/XMODEM, as in the Redis Cluster specification.
	if got := crc16("123456789"); got != 0x31c3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
}

// Slot agrees with the server's CLUSTER KEYSLOT, hash tags and their odd
// cases included.
func TestSlotMatchesServer(t *testing.T) {
	t.Parallel()
	c := Start(t, Config{})
	ctx := context.Background()
	keys := []string{
		"", "foo", "bar", "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap",
		"foo{bar}{zap}", "{}", "{}x", "}{", "x{", "{a", "a}", "{{}}", "{}}", "secmon:detect:bf_ip:{}}:x",
		"\x00{\xff}", "ünïcode{ключ}", "a{b}c{d}",
	}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	for _, k := range keys {
		want, err := c.Do(ctx, 0, "cluster", "keyslot", k).Int()
		if err != nil {
			t.Fatal(err)
		}
		if got := Slot(k); got != want {
			t.Errorf("Slot(%q) = %d, server says %d", k, got, want)
		}
	}
}

// A cluster starts whole, keeps serving the slots of the masters that are
// up while one is killed, serves all slots again after the restart, moves
// a slot with its keys, and leaves no process behind.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := Start(t, Config{})
	client := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// One key on each master.
	keys := map[int]string{}
	for i := 0; len(keys) < 3; i++ {
		k := fmt.Sprintf("key%d", i)
		owner, err := c.OwnerOfKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keys[owner]; !ok {
			keys[owner] = k
		}
	}
	for _, k := range keys {
		if err := client.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}

	pid := c.PID(1)
	c.Kill(1)
	if Alive(pid) {
		t.Fatalf("master 1 (pid %d) alive after Kill", pid)
	}
	for owner, k := range keys {
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := client.Get(short, k).Err()
		cancel()
		if owner == 1 && err == nil {
			t.Errorf("GET %s answered with its master down", k)
		}
		if owner != 1 && err != nil {
			t.Errorf("GET %s on master %d while master 1 is down: %v", k, owner, err)
		}
	}

	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	// The restarted master serves its slots again, empty: no persistence.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := client.Set(ctx, keys[1], "again", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SET on the restarted master: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Move the slot of master 0's key to master 2, with the key.
	slot := Slot(keys[0])
	if err := c.MigrateSlot(ctx, slot, 2); err != nil {
		t.Fatal(err)
	}
	if owner, err := c.Owner(ctx, slot); err != nil || owner != 2 {
		t.Fatalf("slot %d owner %d (%v), want 2", slot, owner, err)
	}
	if v, err := client.Get(ctx, keys[0]).Result(); err != nil || v != "v" {
		t.Fatalf("GET after migration: %q, %v", v, err)
	}
	if v, err := c.Do(ctx, 2, "get", keys[0]).Text(); err != nil || v != "v" {
		t.Fatalf("the key is not on master 2: %q, %v", v, err)
	}

	pids := []int{c.PID(0), c.PID(1), c.PID(2)}
	c.Stop()
	c.Stop()
	for i, pid := range pids {
		if Alive(pid) {
			t.Errorf("master %d (pid %d) alive after Stop", i, pid)
		}
	}
}
