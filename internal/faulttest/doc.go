// Package faulttest lets tests take a real service away and give it back
// without touching the service: a loopback TCP proxy the test owns sits
// between the code under test and PostgreSQL or Redis, and the test cuts it.
//
// # Proxy
//
// NewProxy listens on a free 127.0.0.1 port and forwards each connection to
// the target. Cut closes every open connection and refuses new ones, as a
// server that went down would; Blackhole closes them and then holds new
// ones open without answering, as a network partition would; Restore
// forwards again. Other tests sharing the service never notice.
//
//	px := faulttest.NewProxy(t, "127.0.0.1:5432")
//	pool := pgxpool.New(ctx, "postgres://postgres@"+px.Addr()+"/test")
//	px.Cut()     // every pooled connection drops, new dials are refused
//	px.Restore() // the pool reconnects
//
// # Tapping
//
// TapClient copies the bytes every client sends to a writer of the test's
// choosing, one writer per connection, so a test can count the statements
// an application really sends to its database.
package faulttest
