package local

import "syscall"

// workerProcAttr starts a worker in a process group of its own, so that a
// timeout kills whatever the handler started too, and has the kernel kill
// it when the runtime dies: a runtime killed with SIGKILL runs no code
// to stop its workers, and they must not outlive it.
//
// The parent-death signal is sent when the thread that started the child
// exits, not the process; Go keeps its threads for the life of the
// process unless a goroutine locked to one returns, which the runtime's
// goroutines never do.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
