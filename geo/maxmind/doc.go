// Package maxmind resolves IP addresses to places with MaxMind GeoIP2 and
// GeoLite2 databases (.mmdb files), for secmon's impossible-travel and
// new-country rules.
//
// # Usage
//
//	geo, err := maxmind.Open("/var/lib/GeoIP/GeoLite2-City.mmdb", maxmind.Config{})
//	if err != nil { … }
//	defer geo.Close(ctx)
//	g, err := geo.Resolve(ctx, addr) // secmon.ErrNotFound when not in the data
//
// [Resolver] implements secmon.GeoResolver. It fills Country (ISO code),
// Region (first subdivision), City (English name), Latitude, Longitude and
// AccuracyKM (the database's accuracy radius, which rules use to skip
// imprecise locations).
//
// # Updates
//
// MaxMind publishes new databases weekly; geoipupdate replaces the file by
// rename. The Resolver checks the file's modification time and size every
// [Config.ReloadInterval] and loads a changed file in the background, or
// loads on demand with [Resolver.Reload]. The new database is swapped in
// atomically; lookups in flight finish on the old one, which is released
// only after the last of them. A file that fails to load (truncated,
// corrupt, half-copied) is refused with an error and the previous database
// keeps answering.
//
// # Memory
//
// By default the file is read onto the heap, which is safe however the file
// is updated. [Config.Mmap] maps it instead, saving memory, on the
// condition that the file is only ever replaced by rename.
package maxmind
