package testenv

import "syscall"

// ChildProcAttr is the SysProcAttr for a process a test starts (a server, a
// service binary): the kernel kills it when the test process dies without
// running its cleanups (a panic in another goroutine, a -timeout), so no
// child outlives the test binary.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
