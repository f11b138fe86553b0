//go:build unix

package sources

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on a cache folder, waiting for another
// xflow that holds it. The lock goes with the process, so a killed run
// leaves none behind.
func lockDir(dir string) (unlock func(), exclusive bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}
