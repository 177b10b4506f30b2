package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/sqlschema"
	"github.com/secmon-go/secmon/store/pgstore"
)

func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // the pool is the caller's; the Store never closes it
	if _, err := sqlschema.Migrate(ctx, pool, sqlschema.Config{}); err != nil {
		log.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Config{StatementTimeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	err = store.InsertEvents(ctx, []secmon.Event{{
		ID: secmon.NewID(), Time: time.Now(), Type: secmon.EventLoginFailure, UserID: "user-42",
	}})
	if errors.Is(err, pgstore.ErrStatementTimeout) {
		log.Print("database too slow; the Monitor retries the batch")
	}
}

// Stream alerts from every instance sharing the database, e.g. to a
// dashboard's server-sent events.
func ExampleStore_SubscribeAlerts() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	err = store.SubscribeAlerts(ctx, func(a secmon.Alert) {
		fmt.Printf("%s %s %s ×%d\n", a.Severity, a.Rule, a.Subject, a.Count)
	})
	if !errors.Is(err, context.Canceled) {
		log.Print(err)
	}
}

// Run the upkeep from a ticker when no Monitor maintenance loop does it;
// with several instances only one works at a time.
func ExampleStore_Maintain() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Config{PartitionsAhead: 14})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.Maintain(ctx, time.Now(), secmon.RetentionPolicy{Events: 30 * 24 * time.Hour})
	switch {
	case err != nil:
		log.Print(err)
	case res.Skipped:
		log.Print("another instance is maintaining")
	default:
		log.Printf("created %d partitions, dropped %d, purged %d events",
			res.PartitionsCreated, res.Purged.PartitionsDropped, res.Purged.Events)
	}
}

// New checks its options without touching the database.
func ExampleNew_invalidSchema() {
	pool, err := pgxpool.New(context.Background(), "postgres://app@localhost/app") // connects lazily
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	_, err = pgstore.New(pool, pgstore.Config{Schema: "secmon; DROP TABLE users"})
	fmt.Println(errors.Is(err, secmon.ErrInvalid))
	// Output: true
}
