//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package main

// isTerminalFD says no where xflow cannot tell: destroy then needs --yes.
func isTerminalFD(uintptr) bool { return false }
