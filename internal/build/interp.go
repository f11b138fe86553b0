package build

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// Environment variables that choose the interpreters of local mode and of
// the Python builds.
const (
	EnvPython = "XFLOW_PYTHON" // the python3 to run Python handlers with
	EnvNode   = "XFLOW_NODE"   // the node to run Node.js handlers with
	// EnvStrictRuntimes set to 1 refuses an interpreter older than the
	// runtime asks for, as --strict-runtimes does.
	EnvStrictRuntimes = "XFLOW_STRICT_RUNTIMES"
)

// Interpreter is a Python or Node.js found on this machine.
type Interpreter struct {
	Path    string `json:"path"`    // the real binary, not a shim
	Version string `json:"version"` // 3.12.1, 22.12.0
	Major   int    `json:"-"`
	Minor   int    `json:"-"`
	// Boto3 is whether this Python can import boto3, as Lambda's Python
	// runtime can.
	Boto3 bool `json:"boto3,omitempty"`

	pip     string // the version of its pip, "" without
	purelib string // its site-packages folder
}

func (i Interpreter) older(major, minor int) bool {
	return i.Major < major || i.Major == major && i.Minor < minor
}

// RuntimeVersion reads the version of a runtime name: python3.12 → 3, 12;
// nodejs22.x → 22, 0.
func RuntimeVersion(rt string) (major, minor int, ok bool) {
	v := strings.TrimPrefix(strings.TrimPrefix(rt, "python"), "nodejs")
	v = strings.TrimSuffix(v, ".x")
	a, b, _ := strings.Cut(v, ".")
	major, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	if b != "" {
		if minor, err = strconv.Atoi(b); err != nil {
			return 0, 0, false
		}
	}
	return major, minor, true
}

// probes caches what probe learned, per candidate and PATH, for the
// life of the process: running an interpreter through a version manager's
// shim (pyenv) takes half a second, and a server may start many runtimes.
var probes sync.Map

type probeResult struct {
	in  Interpreter
	err error
}

// probing serializes probes: functions built at once ask for the same
// interpreters, which should run once.
var probing sync.Mutex

// probe runs a candidate interpreter to learn its real path and version,
// and for Python whether it has boto3 and which pip.
func probe(ctx context.Context, family, cand string) (Interpreter, error) {
	key := family + "\x00" + cand + "\x00" + os.Getenv("PATH")
	probing.Lock()
	defer probing.Unlock()
	if r, ok := probes.Load(key); ok {
		return r.(probeResult).in, r.(probeResult).err
	}
	p, err := exec.LookPath(cand)
	if err != nil {
		return Interpreter{}, err
	}
	memo := probeMemo(family, p)
	in, ok := readProbeMemo(memo)
	if !ok {
		if in, err = probeOnce(ctx, family, p); err == nil && memo != "" {
			writeProbeMemo(memo, in)
		}
	}
	if ctx.Err() == nil {
		probes.Store(key, probeResult{in, err})
	}
	return in, err
}

// pythonProbe prints what probe learns of a Python, one item a line. It
// asks importlib.metadata for pip's version rather than running pip, which
// takes half a second.
const pythonProbe = `import sys, sysconfig, importlib.util
try:
    import importlib.metadata as md
    pip = md.version("pip")
except Exception:
    pip = "-"
print(sys.executable)
print("%d.%d.%d" % sys.version_info[:3])
print(int(importlib.util.find_spec("boto3") is not None))
print(pip)
print(sysconfig.get_paths()["purelib"])`

func probeOnce(ctx context.Context, family, p string) (Interpreter, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if family == "python" {
		// -I: neither the caller's PYTHONPATH nor their user site decides
		// whether boto3 imports.
		cmd = exec.CommandContext(ctx, p, "-I", "-c", pythonProbe)
	} else {
		cmd = exec.CommandContext(ctx, p, "-p", "process.execPath + '\\n' + process.versions.node + '\\n0\\n-\\n-'")
	}
	out, err := cmd.Output()
	if err != nil {
		return Interpreter{}, fmt.Errorf("%s does not run: %w", p, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		return Interpreter{}, fmt.Errorf("%s printed %q, not its path and version", p, out)
	}
	in := Interpreter{Path: lines[0], Version: lines[1], Boto3: lines[2] == "1", pip: lines[3], purelib: lines[4]}
	if in.pip == "-" {
		in.pip = ""
	}
	if in.purelib == "-" {
		in.purelib = ""
	}
	parts := strings.Split(in.Version, ".")
	in.Major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		in.Minor, _ = strconv.Atoi(parts[1])
	}
	if in.Path == "" {
		in.Path = p
	}
	return in, nil
}

// isScript tells whether an executable is a script (#!) rather than a
// binary: a version manager's shim.
func isScript(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := f.Read(head)
	return n == 2 && string(head) == "#!"
}

// probeMemo is the file that remembers a probe across processes, so that
// a warm synth runs no interpreter. Only a real binary is remembered, by
// its path, size and modification time: a version manager's shim is a
// script whose answer depends on settings elsewhere. "" means none.
func probeMemo(family, p string) string {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	f, err := os.Open(real)
	if err != nil {
		return ""
	}
	defer f.Close()
	magic := make([]byte, 4)
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return ""
	}
	if n, _ := f.Read(magic); n != 4 || string(magic) != "\x7fELF" && string(magic) != "\xcf\xfa\xed\xfe" {
		return ""
	}
	cache, err := nodejs.CacheDir()
	if err != nil {
		return ""
	}
	h := newSHA()
	fmt.Fprintf(h, "probe v1\x00%s\x00%s\x00%d\x00%d", family, real, fi.Size(), fi.ModTime().UnixNano())
	return filepath.Join(cache, "probes", fmt.Sprintf("%x.json", h.Sum(nil)[:16]))
}

type probeRecord struct {
	Interpreter
	Pip     string    `json:"pip"`
	Purelib string    `json:"purelib"`
	Libtime time.Time `json:"purelib_time"`
}

// readProbeMemo returns a remembered probe while the interpreter's
// site-packages is as it was: installing or upgrading a package there
// (boto3, pip) changes the folder's time.
func readProbeMemo(memo string) (Interpreter, bool) {
	if memo == "" {
		return Interpreter{}, false
	}
	data, err := os.ReadFile(memo)
	if err != nil {
		return Interpreter{}, false
	}
	var r probeRecord
	if json.Unmarshal(data, &r) != nil || r.Path == "" {
		return Interpreter{}, false
	}
	if r.Purelib != "" {
		fi, err := os.Stat(r.Purelib)
		if err != nil || !fi.ModTime().Equal(r.Libtime) {
			return Interpreter{}, false
		}
	}
	in := r.Interpreter
	in.pip, in.purelib = r.Pip, r.Purelib
	parts := strings.Split(in.Version, ".")
	in.Major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		in.Minor, _ = strconv.Atoi(parts[1])
	}
	return in, true
}

func writeProbeMemo(memo string, in Interpreter) {
	r := probeRecord{Interpreter: in, Pip: in.pip, Purelib: in.purelib}
	if in.purelib != "" {
		fi, err := os.Stat(in.purelib)
		if err != nil {
			return
		}
		r.Libtime = fi.ModTime()
	}
	if data, err := json.Marshal(r); err == nil {
		writeFileAtomic(memo, data)
	}
}

// managedPythons lists the Python X.Y binaries that version managers keep
// outside PATH: pyenv, asdf, mise and uv's managed Pythons.
func managedPythons(major, minor int) []string {
	home, _ := os.UserHomeDir()
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return filepath.Join(home, def)
	}
	exe := fmt.Sprintf("python%d.%d", major, minor)
	v := fmt.Sprintf("%d.%d", major, minor)
	patterns := []string{
		filepath.Join(env("PYENV_ROOT", ".pyenv"), "versions", v+"*", "bin", exe),
		filepath.Join(env("ASDF_DATA_DIR", ".asdf"), "installs", "python", v+"*", "bin", exe),
		filepath.Join(env("MISE_DATA_DIR", ".local/share/mise"), "installs", "python", v+"*", "bin", exe),
		filepath.Join(env("UV_PYTHON_INSTALL_DIR", ".local/share/uv/python"), "cpython-"+v+"*", "bin", exe),
	}
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		// The newest patch release first: 3.12.10 before 3.12.9.
		slices.SortFunc(m, func(a, b string) int { return -cmp.Compare(versionSortKey(a), versionSortKey(b)) })
		out = append(out, m...)
	}
	return out
}

// versionSortKey orders paths holding x.y.z numerically.
func versionSortKey(p string) string {
	var b strings.Builder
	for _, f := range strings.FieldsFunc(p, func(r rune) bool { return r < '0' || r > '9' }) {
		fmt.Fprintf(&b, "%08s.", f)
	}
	return b.String()
}

// managedNodes lists the node binaries of nvm, asdf and mise for a major
// version.
func managedNodes(major int) []string {
	home, _ := os.UserHomeDir()
	var out []string
	for _, p := range []string{
		filepath.Join(home, ".nvm", "versions", "node", fmt.Sprintf("v%d.*", major), "bin", "node"),
		filepath.Join(home, ".asdf", "installs", "nodejs", fmt.Sprintf("%d.*", major), "bin", "node"),
		filepath.Join(home, ".local", "share", "mise", "installs", "node", fmt.Sprintf("%d.*", major), "bin", "node"),
	} {
		m, _ := filepath.Glob(p)
		slices.SortFunc(m, func(a, b string) int { return -cmp.Compare(versionSortKey(a), versionSortKey(b)) })
		out = append(out, m...)
	}
	return out
}

// interpreters finds and remembers the interpreter of each runtime.
type interpreters struct {
	python, node string // overrides; empty means $XFLOW_PYTHON, $XFLOW_NODE
	strict       bool
	warn         func(string)

	mu    sync.Mutex
	found map[string]Interpreter
}

// Find returns the interpreter of a runtime (python3.12, nodejs22.x).
//
// An override ($XFLOW_PYTHON or $XFLOW_NODE) is used alone. Otherwise the
// candidates are pythonX.Y on PATH, then the Pythons of pyenv, asdf, mise
// and uv, then python3 on PATH (node on PATH, then nvm's, asdf's and
// mise's, then the Node.js xflow installs for the CDK). The first of the
// runtime's own version wins; failing that, the one ranked best: newer
// before older, then one that can import boto3, as Lambda's runtime can
// (local mode gives every handler boto3 anyway, see PythonSDK). An older
// one runs with a warning, or is refused when strict.
func (f *interpreters) Find(ctx context.Context, rt string) (Interpreter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok := f.found[rt]; ok {
		return in, nil
	}
	in, err := f.find(ctx, rt)
	if err == nil {
		if f.found == nil {
			f.found = map[string]Interpreter{}
		}
		f.found[rt] = in
	}
	return in, err
}

func (f *interpreters) find(ctx context.Context, rt string) (Interpreter, error) {
	family := config.RuntimeFamily(rt)
	major, minor, ok := RuntimeVersion(rt)
	if !ok || family != "python" && family != "nodejs" {
		return Interpreter{}, fmt.Errorf("cannot read the interpreter version of runtime %s", rt)
	}
	env, bin, want := EnvPython, "python3", fmt.Sprintf("Python %d.%d", major, minor)
	override := f.python
	if family == "nodejs" {
		env, bin, want = EnvNode, "node", fmt.Sprintf("Node.js %d", major)
		override = f.node
	}
	if override == "" {
		override = os.Getenv(env)
	}
	var cands []string
	switch {
	case override != "":
		cands = []string{override}
	case family == "python":
		// pythonX.Y on PATH first, unless it is a version manager's shim
		// (a script): the real binaries the managers keep answer faster
		// and, unlike a shim, can be remembered across runs.
		exact := fmt.Sprintf("python%d.%d", major, minor)
		if p, err := exec.LookPath(exact); err == nil && isScript(p) {
			cands = append(managedPythons(major, minor), exact)
		} else {
			cands = append([]string{exact}, managedPythons(major, minor)...)
		}
		cands = append(cands, "python3")
	default:
		cands = append([]string{"node"}, managedNodes(major)...)
	}
	var found []Interpreter
	var problems []string
	seen := map[string]bool{}
	for _, c := range cands {
		in, err := probe(ctx, family, c)
		if err != nil {
			if !errors.Is(err, exec.ErrNotFound) {
				problems = append(problems, err.Error())
			}
			continue
		}
		if !seen[in.Path] {
			seen[in.Path] = true
			found = append(found, in)
		}
		// The runtime's own version ends the search: the candidates after
		// it (python3 through a version manager's shim) cost half a second
		// each to ask, at every start and synth.
		if in.Major == major && (family == "nodejs" || in.Minor == minor) {
			break
		}
	}
	if family == "nodejs" && override == "" && major <= nodejs.MinNodeMajor && !slices.ContainsFunc(found, func(in Interpreter) bool { return !in.older(major, minor) }) {
		// The Node.js xflow installs for the CDK (from npm, once) will do.
		if p, err := nodejs.Ensure(ctx, nil); err == nil {
			if in, err := probe(ctx, family, p); err == nil {
				found = append(found, in)
			}
		}
	}
	if len(found) == 0 {
		msg := fmt.Sprintf("runtime %s needs %s, and no %s was found", rt, want, bin)
		if override != "" {
			msg = fmt.Sprintf("runtime %s needs %s, and %s=%s does not run", rt, want, env, override)
		}
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return Interpreter{}, fmt.Errorf("%s: install %s or set %s to one", msg, want, env)
	}
	// Rank: not older, then the runtime's own minor version, then boto3,
	// then the order found.
	rank := func(in Interpreter) int {
		r := 0
		if !in.older(major, minor) {
			r += 4
		}
		if in.Major == major && (family == "nodejs" || in.Minor == minor) {
			r += 2
		}
		if in.Boto3 {
			r++
		}
		return r
	}
	best := found[0]
	for _, in := range found[1:] {
		if rank(in) > rank(best) || rank(in) == rank(best) && in.older(major, minor) && best.older(in.Major, in.Minor) {
			best = in
		}
	}
	if best.older(major, minor) {
		if f.strict {
			return Interpreter{}, fmt.Errorf("runtime %s needs %s, but the newest found is %s %s (%s): install %s (for Python: pyenv install %d.%d, or uv python install %d.%d) or set %s to it; without --strict-runtimes it runs with a warning",
				rt, want, bin, best.Version, best.Path, want, major, minor, major, minor, env)
		}
		if f.warn != nil {
			f.warn(fmt.Sprintf("runtime %s needs %s; running it locally with %s %s (%s), which may lack what the handler uses (install %s, or refuse with --strict-runtimes)", rt, want, bin, best.Version, best.Path, want))
		}
	}
	return best, nil
}
