package maxmind_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/secmon-go/secmon/geo/maxmind"
)

func ExampleOpen() {
	// A tiny GeoIP2-City-shaped database built for the example; a real
	// deployment points at GeoLite2-City.mmdb.
	dir, _ := os.MkdirTemp("", "geo")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "city.mmdb")
	writeDB(panicker{}, path, london)

	geo, err := maxmind.Open(path, maxmind.Config{ReloadInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer geo.Close(context.Background())

	g, err := geo.Resolve(context.Background(), netip.MustParseAddr("81.2.69.142"))
	fmt.Println(g.Country, g.Region, g.City, g.AccuracyKM, err)
	_, err = geo.Resolve(context.Background(), netip.MustParseAddr("8.8.8.8"))
	fmt.Println(err)
	// Output:
	// GB England London 10 <nil>
	// secmon: not found
}

// panicker stops an example on a setup failure.
type panicker struct{}

func (panicker) Helper()           {}
func (panicker) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
