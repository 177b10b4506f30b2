// Package zztestsummary holds no code. Its tests end go test ./... with one
// line that counts the tests skipped for want of PostgreSQL or Redis and
// says how to run them:
//
//	ok  	github.com/secmon-go/secmon/upload	2.104s
//	secmon: 61 tests skipped for want of PostgreSQL (47) or Redis (14); run them with SECMON_TEST_DATABASE_URL=… SECMON_TEST_REDIS_ADDR=… go test ./...
//	ok  	github.com/secmon-go/secmon/zztestsummary	3.210s
//
// go test prints each package's result in package order, and its name
// sorts after every other package of the module (a test checks that), so
// its result is printed last; it waits for every package with service tests
// to report its skips and writes the line just before its own result. The
// mechanism, and when no line is written (CI, partial runs, output
// redirected to a file with >), is described in internal/testenv.
package zztestsummary
