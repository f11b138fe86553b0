//go:build !linux

package local

import "syscall"

// workerProcAttr starts a worker in a process group of its own, so that a
// timeout kills whatever the handler started too. Only Linux has a
// parent-death signal: elsewhere a runtime killed with SIGKILL leaves its
// workers until their next call to the Runtime API fails.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
