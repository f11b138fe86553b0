package sources

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/xflowhq/xflow/internal/config"
)

// Lock is the lock file: the commit each git URL and ref of a config is
// pinned to. It lives beside the config, named after it (xflow.yaml pins
// in xflow.lock), and is meant to be committed with it.
type Lock struct {
	path string
	// Entries are sorted by repository and ref.
	Entries []Entry
	changed bool
}

// Entry pins one URL and ref.
type Entry struct {
	Repo   string
	Ref    string // HEAD for the default branch
	Commit string
	// Resolved is when the ref was found to name this commit; it stays
	// while the ref does.
	Resolved time.Time
}

// lockVersion is the format of the file; a newer one is refused rather
// than misread.
const lockVersion = 1

const lockHeader = `# The commit each git source of the xflow config beside this file is pinned
# to. xflow writes this file: commit it with the config. Run
# "xflow synth --update-sources" to move every ref to its current commit.
`

// LockPath is the lock file of a config: beside it, with its name and the
// extension .lock.
func LockPath(c *config.Config) string {
	base := filepath.Base(c.File)
	return filepath.Join(c.Dir, strings.TrimSuffix(base, filepath.Ext(base))+".lock")
}

// lockFile is the YAML form of the file.
type lockFile struct {
	Version int         `yaml:"version"`
	Sources []lockEntry `yaml:"sources"`
}

type lockEntry struct {
	Repo     string `yaml:"repo"`
	Ref      string `yaml:"ref"`
	Commit   string `yaml:"commit"`
	Resolved string `yaml:"resolved"`
}

var commitRe = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// ReadLock reads a lock file; a missing one is an empty lock.
func ReadLock(path string) (*Lock, error) {
	l := &Lock{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lock file: %w", err)
	}
	bad := func(line int, format string, args ...any) error {
		return config.Errors{{File: path, Pos: config.Pos{Line: line, Col: 1}, Msg: fmt.Sprintf(format, args...),
			Hint: "xflow writes this file: restore it from version control, or delete it to pin every source to its ref's current commit"}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return l, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, bad(0, "invalid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var f lockFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, bad(0, "%v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	switch {
	case f.Version > lockVersion:
		return nil, bad(0, "version %d was written by a newer xflow; this one reads version %d", f.Version, lockVersion)
	case f.Version < 1:
		return nil, bad(0, "the file has no version: 1")
	}
	seen := map[pinKey]bool{}
	for i, s := range f.Sources {
		line := entryLine(&doc, i)
		switch {
		case s.Repo == "" || s.Ref == "":
			return nil, bad(line, "sources[%d] has no repo or no ref", i)
		case !commitRe.MatchString(s.Commit):
			return nil, bad(line, "sources[%d]: commit %q is not a full commit hash", i, s.Commit)
		case seen[pinKey{s.Repo, s.Ref}]:
			return nil, bad(line, "sources[%d]: %s %s is pinned twice", i, s.Repo, s.Ref)
		}
		seen[pinKey{s.Repo, s.Ref}] = true
		t, err := time.Parse(time.RFC3339, s.Resolved)
		if err != nil {
			return nil, bad(line, "sources[%d]: resolved %q is not a time such as 2026-01-02T15:04:05Z", i, s.Resolved)
		}
		l.Entries = append(l.Entries, Entry{Repo: s.Repo, Ref: s.Ref, Commit: s.Commit, Resolved: t.UTC()})
	}
	l.sort()
	return l, nil
}

// entryLine is the line of sources[i] in the file, 0 if unknown.
func entryLine(doc *yaml.Node, i int) int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0
	}
	m := doc.Content[0]
	for k := 0; k+1 < len(m.Content); k += 2 {
		if m.Content[k].Value == "sources" && i < len(m.Content[k+1].Content) {
			return m.Content[k+1].Content[i].Line
		}
	}
	return 0
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Changed reports whether Save would write: a source was pinned, moved
// or dropped from the config.
func (l *Lock) Changed() bool { return l != nil && l.changed }

// Save writes the lock file when it changed, all at once. A nil Lock (a
// config without git sources) saves nothing.
func (l *Lock) Save() error {
	if !l.Changed() {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.path), "."+filepath.Base(l.path)+".new-")
	if err != nil {
		return fmt.Errorf("write the lock file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(l.Bytes())
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), l.path)
	}
	if err != nil {
		return fmt.Errorf("write the lock file: %w", err)
	}
	l.changed = false
	return nil
}

// Bytes is the file's content: a header, then one entry per URL and ref
// in sorted order, so that the file diffs well under version control.
func (l *Lock) Bytes() []byte {
	f := lockFile{Version: lockVersion, Sources: []lockEntry{}}
	for _, e := range l.Entries {
		f.Sources = append(f.Sources, lockEntry{Repo: e.Repo, Ref: e.Ref, Commit: e.Commit, Resolved: e.Resolved.UTC().Format(time.RFC3339)})
	}
	var buf bytes.Buffer
	buf.WriteString(lockHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		panic(fmt.Sprintf("encode the lock file: %v", err)) // plain strings always encode
	}
	enc.Close()
	return buf.Bytes()
}

func (l *Lock) find(repo, ref string) (Entry, bool) {
	for _, e := range l.Entries {
		if e.Repo == repo && e.Ref == ref {
			return e, true
		}
	}
	return Entry{}, false
}

func (l *Lock) sort() {
	slices.SortFunc(l.Entries, func(a, b Entry) int {
		if c := strings.Compare(a.Repo, b.Repo); c != 0 {
			return c
		}
		return strings.Compare(a.Ref, b.Ref)
	})
}

func (l *Lock) equal(o *Lock) bool {
	return slices.EqualFunc(l.Entries, o.Entries, func(a, b Entry) bool {
		return a.Repo == b.Repo && a.Ref == b.Ref && a.Commit == b.Commit && a.Resolved.Equal(b.Resolved)
	})
}
