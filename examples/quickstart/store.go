package main

import (
	"context"
	"io"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
)

// openStore returns the store the quickstart writes to: memstore, or
// PostgreSQL when databaseURL is set (see openPostgres).
func openStore(ctx context.Context, databaseURL string, keep bool, stderr io.Writer) (secmon.Store, string, func(), error) {
	if databaseURL != "" {
		return openPostgres(ctx, databaseURL, keep, stderr)
	}
	return memstore.New(), "in-memory", func() {}, nil
}
