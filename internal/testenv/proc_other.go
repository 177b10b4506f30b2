//go:build !linux

package testenv

import "syscall"

// ChildProcAttr has no parent-death signal outside Linux; the test's
// cleanups stop every process it started.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
