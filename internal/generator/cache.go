package generator

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xflowhq/xflow/constructs/spec"
)

// The synth cache: a cloud assembly is reused, without running the app,
// when everything it was synthesized from is unchanged. The key hashes:
//
//   - xflow's version and the build id of the running xflow binary (so
//     that a development build that changed nothing else still counts as
//     a new version);
//   - the config file;
//   - every generated file of the app (main.go, go.mod, the spec, the
//     packaged constructs and tracker sources);
//   - every package a function deploys, by the hash of its content, which
//     the spec holds (the build step computes it);
//   - the CDK context, whether the CDK's validation runs, and the Go
//     toolchain that builds the tracker Lambda (its path, size and
//     modification time, and the variables that change what it builds).
//
// Content is streamed through SHA-256 rather than trusting modification
// times: a checkout, an editor or a copy can change a file and keep its
// time, or change the time alone. The key is stored in the output folder,
// in SynthKeyFile, written last (inside the temporary folder that is
// renamed into place, or after the app finished in Direct mode), so that a
// half-written assembly never hits.

// SynthKeyFile is the file of the cloud assembly that records what it was
// synthesized from.
const SynthKeyFile = "xflow.synth.key"

// SynthInputs make a synth cacheable: what the app was generated from.
type SynthInputs struct {
	// Version is xflow's version.
	Version string
	// Config is the path of the config file.
	Config string
	// Files are the generated app's files, as Generate returned them.
	Files Files
}

// synthRecord is the content of SynthKeyFile: the key, and the stacks, so
// that a cache hit needs to read no template.
type synthRecord struct {
	Key    string  `json:"key"`
	Stacks []Stack `json:"stacks"`
}

// synthKey hashes the inputs of a synth (see above).
func synthKey(in *SynthInputs, appDir string, context []byte, validate bool) (string, error) {
	h := sha256.New()
	field := func(name string, value []byte) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(value))
		h.Write(value)
	}
	field("cache", []byte("xflow synth cache v1"))
	field("version", []byte(in.Version))
	field("build", []byte(executableID()))
	cfg, err := os.ReadFile(in.Config)
	if err != nil {
		return "", fmt.Errorf("synth cache: %w", err)
	}
	field("config", cfg)
	for _, p := range in.Files.Paths() {
		field("file:"+p, in.Files[p])
	}
	field("context", context)
	field("validate", []byte(fmt.Sprint(validate)))
	field("go", []byte(goToolchainID()))

	// Only the functions' code matters here; the rest of the spec is in
	// the files hashed above.
	var s struct {
		Functions []struct {
			Name string    `json:"name"`
			Code spec.Code `json:"code"`
		} `json:"functions"`
	}
	if err := json.Unmarshal(in.Files[spec.File], &s); err != nil {
		return "", fmt.Errorf("synth cache: read the generated spec: %w", err)
	}
	for _, f := range s.Functions {
		switch f.Code.Kind {
		case spec.CodeFile, spec.CodeDir, spec.CodeZip:
			if f.Code.SHA256 == "" {
				return "", fmt.Errorf("synth cache: the package of %s has no hash: the app was not generated from built packages", f.Name)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// executableID identifies the running xflow binary: its Go build id, which
// the go command derives from everything the binary was built from, read
// from the ELF note without reading the whole file; elsewhere the hash of
// the file.
func executableID() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	if f, err := elf.Open(exe); err == nil {
		defer f.Close()
		if s := f.Section(".note.go.buildid"); s != nil {
			if b, err := s.Data(); err == nil {
				return string(b)
			}
		}
	}
	f, err := os.Open(exe)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// goToolchainID identifies the go command that builds the tracker Lambda,
// without running it: its resolved path, size and modification time, and
// the variables that change what it builds.
func goToolchainID() string {
	var b strings.Builder
	if p, err := exec.LookPath("go"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	for _, k := range []string{"GOROOT", "GOFLAGS", "GOEXPERIMENT", "GOTOOLCHAIN"} {
		fmt.Fprintf(&b, " %s=%s", k, os.Getenv(k))
	}
	return b.String()
}

// cachedAssembly returns the assembly in dir when it was synthesized with
// key and is still whole (its manifest and templates exist), else nil.
func cachedAssembly(dir, key string) *Assembly {
	b, err := os.ReadFile(filepath.Join(dir, SynthKeyFile))
	if err != nil {
		return nil
	}
	var rec synthRecord
	if json.Unmarshal(b, &rec) != nil || rec.Key != key || len(rec.Stacks) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		return nil
	}
	a := &Assembly{Dir: dir, Cached: true, Key: key}
	for _, st := range rec.Stacks {
		// The record keeps template paths relative to the assembly, which
		// may have been moved since.
		st.Template = filepath.Join(dir, st.Template)
		if _, err := os.Stat(st.Template); err != nil || !assetsPresent(dir, st.Template) {
			return nil
		}
		a.Stacks = append(a.Stacks, st)
	}
	sort.Slice(a.Stacks, func(i, j int) bool { return a.Stacks[i].Name < a.Stacks[j].Name })
	return a
}

// writeSynthKey records key and the stacks of the assembly in dir.
func writeSynthKey(dir, key string, a *Assembly) error {
	rec := synthRecord{Key: key}
	for _, st := range a.Stacks {
		rel, err := filepath.Rel(a.Dir, st.Template)
		if err != nil {
			return fmt.Errorf("synth cache: %w", err)
		}
		st.Template = rel
		rec.Stacks = append(rec.Stacks, st)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("synth cache: %w", err)
	}
	tmp := filepath.Join(dir, "."+SynthKeyFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("synth cache: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, SynthKeyFile)); err != nil {
		return fmt.Errorf("synth cache: %w", err)
	}
	return nil
}

// removeSynthKey forgets what an assembly was synthesized from, before it
// is written over.
func removeSynthKey(dir string) error {
	err := os.Remove(filepath.Join(dir, SynthKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("synth cache: %w", err)
	}
	return nil
}

// contextJSON is the CDK context the app will see, as it is passed.
func contextJSON(c map[string]any) ([]byte, error) {
	if c == nil {
		return []byte(os.Getenv("CDK_CONTEXT_JSON")), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil { // map keys sorted: stable
		return nil, fmt.Errorf("encode CDK context: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// assetsPresent tells whether the staged assets a stack's asset manifest
// (<stack>.assets.json beside its template) lists are all in the assembly.
func assetsPresent(dir, template string) bool {
	b, err := os.ReadFile(strings.TrimSuffix(template, ".template.json") + ".assets.json")
	if errors.Is(err, fs.ErrNotExist) {
		return true // a stack without assets
	}
	if err != nil {
		return false
	}
	var m struct {
		Files map[string]struct {
			Source struct {
				Path string `json:"path"`
			} `json:"source"`
		} `json:"files"`
	}
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for _, f := range m.Files {
		if f.Source.Path == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, f.Source.Path)); err != nil {
			return false
		}
	}
	return true
}
