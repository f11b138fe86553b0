//go:build linux

package main

import "golang.org/x/sys/unix"

// isTerminalFD says whether fd is a terminal: it has terminal attributes.
// A character device is not enough (/dev/null is one).
func isTerminalFD(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}
