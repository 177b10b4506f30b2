package memstore_test

import (
	"testing"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/store/memstore"
	"github.com/secmon-go/secmon/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) secmon.Store { return memstore.New() })
}
