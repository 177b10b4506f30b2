//go:build !linux

package rediscluster

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; the test's cleanups
// stop every server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
