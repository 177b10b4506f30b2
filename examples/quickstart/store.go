package main

import (
	"context"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

// openStore returns the store the quickstart writes to: memstore, or
// PostgreSQL when databaseURL is set.
func openStore(ctx context.Context, databaseURL string) (secmon.Store, string, func(), error) {
	if databaseURL != "" {
		return openPostgres(ctx, databaseURL)
	}
	return memstore.New(), "in-memory", func() {}, nil
}
