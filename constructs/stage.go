package constructs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xflowhq/xflow/internal/trackerbuild"
)

// stageFile puts a copy of a single-file source alone in a folder and
// returns the folder, to be packaged whole. The folders are kept under
// $XFLOW_CACHE_DIR/sources/<key>, where the key hashes the file's name,
// mode and content, so that an unchanged source is staged once, however
// many synths and apps use it, and a changed one gets a new folder. A
// folder is written to a temporary name and renamed into place, so
// concurrent synths are safe.
func stageFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("stage source: %s is not a regular file", path)
	}
	name := filepath.Base(path)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%o\x00", name, fi.Mode().Perm())
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	root, err := trackerbuild.CacheDir()
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	dir := filepath.Join(root, "sources", hex.EncodeToString(h.Sum(nil))[:32])
	if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".stage-")
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(tmp, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	_, err = io.Copy(out, f)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(filepath.Join(tmp, name), fi.Mode().Perm()) // whatever the umask
	}
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		return "", fmt.Errorf("stage source: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another synth staged the same file meanwhile: same bytes.
		if st, statErr := os.Stat(filepath.Join(dir, name)); statErr == nil && st.Mode().IsRegular() {
			return dir, nil
		}
		return "", fmt.Errorf("stage source: %w", err)
	}
	return dir, nil
}
