package rediscluster

import "syscall"

// sysProcAttr makes the kernel kill a started server when the test process
// dies without running its cleanups (a panic in another goroutine, a
// -timeout), so no server outlives the test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
