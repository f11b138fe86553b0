package local

import (
	"os"
	"syscall"
	"unsafe"
)

// pipeBuffered returns how many bytes a pipe holds unread (FIONREAD).
func pipeBuffered(f *os.File) int {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var n int32
	sc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			n = 0
		}
	})
	return int(n)
}
