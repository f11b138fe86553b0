package build

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// lambdaGlibc is the glibc of the Amazon Linux 2023 images of Lambda's
// python3.12 and newer runtimes (older ones ran on Amazon Linux 2, 2.26):
// the newest manylinux wheels they can load.
func lambdaGlibc(major, minor int) int {
	if major == 3 && minor < 12 {
		return 26
	}
	return 34
}

// lambdaPlatforms are pip's --platform values for a Lambda architecture:
// every manylinux tag its glibc satisfies. pip does not widen a
// manylinux_2_X tag to the older ones by itself.
func lambdaPlatforms(arch string, glibc int) []string {
	machine := "x86_64"
	if arch == "arm64" {
		machine = "aarch64"
	}
	var out []string
	for v := glibc; v >= 17; v-- {
		out = append(out, fmt.Sprintf("manylinux_2_%d_%s", v, machine))
	}
	out = append(out, "manylinux2014_"+machine)
	if machine == "x86_64" {
		out = append(out, "manylinux2010_x86_64", "manylinux1_x86_64")
	}
	return out
}

// pipEnv is the environment of pip: the caller's, so that pip's own
// configuration (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf) decides where
// packages come from, without the settings that contradict an install
// into a folder, and quiet about what does not concern a build.
func pipEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "PIP_EDITABLE", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_ROOT_USER_ACTION=ignore", "PIP_NO_INPUT=1", "PIP_PROGRESS_BAR=off")
}

// pyprojectDependencies tells whether a pyproject.toml lists
// [project] dependencies.
func pyprojectDependencies(path string) bool {
	deps, err := readPyproject(path)
	return err == nil && len(deps) > 0
}

func readPyproject(path string) ([]string, error) {
	var doc struct {
		Project struct {
			Dependencies []string `toml:"dependencies"`
		} `toml:"project"`
	}
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		return nil, err
	}
	return doc.Project.Dependencies, nil
}

// requirements returns pip's arguments naming what a function needs, and
// the files and folders those arguments read (for the key): its
// requirements.txt, or the [project] dependencies of its pyproject.toml
// written to a file in tmp.
func requirements(src, tmp string) (args, inputs []string, err error) {
	req := filepath.Join(src, "requirements.txt")
	if _, err := os.Stat(req); err != nil {
		deps, err := readPyproject(filepath.Join(src, "pyproject.toml"))
		if err != nil {
			return nil, nil, fmt.Errorf("read pyproject.toml: %w", err)
		}
		req = filepath.Join(tmp, "requirements.txt")
		if err := os.WriteFile(req, []byte(strings.Join(deps, "\n")+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
	}
	inputs, err = requirementInputs(req, src, map[string]bool{})
	return []string{"-r", req}, inputs, err
}

// requirementInputs lists the local files and folders a requirements file
// reads: itself, the files its -r and -c lines include, and the paths it
// installs from (a folder of a local package, a wheel). Relative paths are
// taken from cwd, where pip runs.
func requirementInputs(file, cwd string, seen map[string]bool) ([]string, error) {
	if seen[file] {
		return nil, nil
	}
	seen[file] = true
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := []string{file}
	abs := func(p string) string {
		if strings.HasPrefix(p, "file://") {
			p = strings.TrimPrefix(p, "file://")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return filepath.Clean(p)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch f := fields[0]; {
		case (f == "-r" || f == "--requirement" || f == "-c" || f == "--constraint") && len(fields) > 1:
			inc := fields[1]
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(file), inc)
			}
			more, err := requirementInputs(inc, cwd, seen)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		case (f == "-e" || f == "--editable") && len(fields) > 1:
			out = append(out, abs(fields[1]))
		case strings.HasPrefix(f, "-"):
		case strings.HasPrefix(f, ".") || strings.HasPrefix(f, "/") || strings.HasPrefix(f, "file:"):
			out = append(out, abs(f))
		default:
			if _, url, ok := strings.Cut(line, "@ file:"); ok {
				out = append(out, abs("file:"+strings.TrimSpace(strings.Split(url, ";")[0])))
			}
		}
	}
	return out, nil
}

// pipVersion is the version of a Python's pip ("pip 23.2.1"), from its
// probe, or an error saying pip is missing.
func (t *toolVersions) pipVersion(ctx context.Context, in Interpreter) (string, error) {
	if in.pip != "" {
		return "pip " + in.pip, nil
	}
	return t.get("pip\x00"+in.Path, func() (string, error) {
		cmd := exec.CommandContext(ctx, in.Path, "-m", "pip", "--version")
		cmd.Env = pipEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s has no pip: %s", in.Path, strings.TrimSpace(string(out)))
		}
		// pip 23.2.1 from /path (python 3.11)
		f := strings.Fields(string(out))
		if len(f) < 2 {
			return "", fmt.Errorf("%s -m pip --version printed %q", in.Path, out)
		}
		return "pip " + f[1], nil
	})
}

// noWheel finds the package pip could not find a wheel of.
var noWheel = regexp.MustCompile(`(?m)Could not find a version that satisfies the requirement ([A-Za-z0-9][A-Za-z0-9._-]*)`)

// pythonBuild packages a Python folder with its dependencies: for Lambda,
// installed by pip for the function's Python version and architecture;
// for this machine, the same versions installed for the interpreter local
// mode runs.
func (b *Builder) pythonBuild(ctx context.Context, s source) (*Artifact, error) {
	major, minor, ok := RuntimeVersion(s.l.Runtime)
	if !ok {
		return nil, s.fail(nil, fmt.Sprintf("cannot read the Python version of runtime %s", s.l.Runtime), "", "")
	}
	if s.target == Lambda {
		return b.pythonForLambda(ctx, s, major, minor)
	}
	in, err := b.interp.Find(ctx, s.l.Runtime)
	if err != nil {
		return nil, s.fail(err, err.Error(), "", "")
	}
	lam, err := b.pythonForLambda(ctx, source{c: s.c, index: s.index, l: s.l, target: Lambda, arch: s.arch}, major, minor)
	if err != nil {
		return nil, err
	}
	if in.Major == major && in.Minor == minor && runtime.GOOS == "linux" && goArch(s.arch) == runtime.GOARCH {
		// This machine is what Lambda is: the same package runs here.
		h := *lam
		h.Target, h.Interpreter = Host, &in
		return &h, nil
	}
	return b.pythonForHost(ctx, s, in, lam)
}

// pipPython is the Python that runs pip for Lambda builds: the one local
// mode would run for the runtime, found without warnings since nothing
// runs on it.
func (b *Builder) pipPython(ctx context.Context, s source) (string, string, error) {
	in, err := b.pipInterp.Find(ctx, s.l.Runtime)
	if err != nil {
		return "", "", s.fail(err, fmt.Sprintf("runtime %s has dependencies to install, and pip needs a Python: %v", s.l.Runtime, err), "", "")
	}
	pip, err := b.tools.pipVersion(ctx, in)
	if err != nil {
		return "", "", s.fail(err, fmt.Sprintf("installing its dependencies needs pip: %v", err),
			fmt.Sprintf("run `%s -m ensurepip` (or install Debian's python3-pip), or set %s to a Python with pip", in.Path, EnvPython), "")
	}
	return in.Path, pip, nil
}

func (b *Builder) pythonForLambda(ctx context.Context, s source, major, minor int) (*Artifact, error) {
	src := s.l.Code.Path
	python, pip, err := b.pipPython(ctx, s)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "xflow-requirements-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	reqArgs, inputs, err := requirements(src, tmp)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its requirements: %v", err), "", "")
	}
	platforms := lambdaPlatforms(s.arch, lambdaGlibc(major, minor))
	k := newKey(KindPython, s)
	k.field("pip", pip)
	k.field("platforms", strings.Join(platforms, " "))
	if err := k.tree("source", src, skipInstalled(src)); err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its source: %v", err), "", "")
	}
	for _, in := range inputs {
		if err := k.tree("input", in, skipInstalled(in)); err != nil {
			return nil, s.fail(err, fmt.Sprintf("read %s, which its requirements name: %v", in, err), "", "")
		}
	}
	key := k.sum()
	defer b.lockKey(key)()
	if a := b.cached(key); a != nil {
		return a, nil
	}
	start := time.Now()
	dir, err := b.staging(s)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	machine := "x86_64"
	if s.arch == "arm64" {
		machine = "aarch64"
	}
	where := fmt.Sprintf("Python %d.%d on Lambda's linux %s (manylinux)", major, minor, machine)
	fmt.Fprintf(b.progress, "xflow: building %s (%s, for %s)\n", s.l.Name, pip, where)
	args := []string{"-m", "pip", "install", "--target", dir, "--no-compile",
		"--implementation", "cp", "--python-version", fmt.Sprintf("%d.%d", major, minor), "--only-binary=:all:"}
	for _, p := range platforms {
		args = append(args, "--platform", p)
	}
	if err := b.pip(ctx, s, python, src, append(args, reqArgs...), where); err != nil {
		return nil, err
	}
	if err := finishPython(s, src, dir); err != nil {
		return nil, err
	}
	return b.commit(s, key, dir, &Artifact{Kind: KindPython, Tool: pip}, start)
}

// pythonForHost installs, for the interpreter of local mode, the versions
// pip chose for Lambda.
func (b *Builder) pythonForHost(ctx context.Context, s source, in Interpreter, lam *Artifact) (*Artifact, error) {
	src := s.l.Code.Path
	pip, err := b.tools.pipVersion(ctx, in)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("local mode installs its dependencies for %s, which needs pip: %v", in.Path, err),
			fmt.Sprintf("run `%s -m ensurepip`, or set %s to a Python with pip", in.Path, EnvPython), "")
	}
	k := newKey(KindPython, s)
	k.field("lambda", lam.Key)
	k.field("interpreter", in.Path+" "+in.Version)
	k.field("pip", pip)
	k.field("host", runtime.GOOS+"/"+runtime.GOARCH)
	key := k.sum()
	defer b.lockKey(key)()
	if a := b.cached(key); a != nil {
		a.Interpreter = &in
		return a, nil
	}
	start := time.Now()
	tmp, err := os.MkdirTemp("", "xflow-requirements-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	reqArgs, _, err := requirements(src, tmp)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its requirements: %v", err), "", "")
	}
	pins, err := installedVersions(lam.Path)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("read what was installed for Lambda: %v", err), "", "")
	}
	constraints := filepath.Join(tmp, "constraints.txt")
	if err := os.WriteFile(constraints, []byte(strings.Join(pins, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	dir, err := b.staging(s)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	where := fmt.Sprintf("Python %s on this machine (%s/%s), for local mode", in.Version, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b.progress, "xflow: building %s (%s, for %s)\n", s.l.Name, pip, where)
	args := []string{"-m", "pip", "install", "--target", dir, "--no-compile", "--only-binary=:all:", "-c", constraints}
	if err := b.pip(ctx, s, in.Path, src, append(args, reqArgs...), where); err != nil {
		return nil, err
	}
	if err := finishPython(s, src, dir); err != nil {
		return nil, err
	}
	a, err := b.commit(s, key, dir, &Artifact{Kind: KindPython, Tool: pip}, start)
	if err != nil {
		return nil, err
	}
	a.Interpreter = &in
	return a, nil
}

// pip runs one pip install and turns its failure into an error that says
// which package, for which platform, and what to do.
func (b *Builder) pip(ctx context.Context, s source, python, dir string, args []string, where string) error {
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = dir
	cmd.Env = pipEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if m := noWheel.FindStringSubmatch(out.String()); m != nil {
			pkg := m[1]
			return s.fail(err, fmt.Sprintf("pip found no wheel of %s for %s", pkg, where),
				fmt.Sprintf("xflow installs binary wheels only, as nothing here can compile for Lambda's platform: use a version of %s that publishes a wheel for it (its files on PyPI list them), or build that wheel and put it in a folder named by PIP_FIND_LINKS or in your index (PIP_INDEX_URL)", pkg),
				out.String())
		}
		return s.fail(err, fmt.Sprintf("pip install of its requirements for %s failed: %v", where, err),
			"fix what pip says below; pip's own configuration (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf) says where packages come from", out.String())
	}
	return nil
}

// finishPython adds the function's own files to what pip installed and
// removes what would make the package depend on the building machine:
// console scripts (their first line names this machine's Python, and
// Lambda runs no installed command) and the direct_url.json of packages
// installed from a local path (it records that path).
func finishPython(s source, src, dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "bin")); err != nil {
		return err
	}
	infos, _ := filepath.Glob(filepath.Join(dir, "*.dist-info"))
	for _, info := range infos {
		du := filepath.Join(info, "direct_url.json")
		if _, err := os.Stat(du); err != nil {
			continue
		}
		if err := os.Remove(du); err != nil {
			return err
		}
		record := filepath.Join(info, "RECORD")
		if data, err := os.ReadFile(record); err == nil {
			var keep []string
			for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
				if !strings.HasPrefix(line, filepath.Base(info)+"/direct_url.json,") {
					keep = append(keep, line)
				}
			}
			if err := os.WriteFile(record, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
				return err
			}
		}
	}
	err := copyTree(src, dir, "", skipInstalled(src))
	if errors.Is(err, fs.ErrExist) {
		return s.fail(err, fmt.Sprintf("a file of its source has the name of an installed package's file: %v", err), "rename the file, or drop the requirement that installs it", "")
	}
	if err != nil {
		return s.fail(err, fmt.Sprintf("copy its source: %v", err), "", "")
	}
	return nil
}

// installedVersions lists name==version of every distribution installed
// in a folder by pip, from its .dist-info folders.
func installedVersions(dir string) ([]string, error) {
	infos, err := filepath.Glob(filepath.Join(dir, "*.dist-info"))
	if err != nil {
		return nil, err
	}
	var pins []string
	for _, info := range infos {
		data, err := os.ReadFile(filepath.Join(info, "METADATA"))
		if err != nil {
			continue
		}
		var name, version string
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Name: "); ok && name == "" {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Version: "); ok && version == "" {
				version = strings.TrimSpace(v)
			}
			if line == "" || line == "\r" {
				break // the headers end at the first blank line
			}
		}
		if name != "" && version != "" {
			pins = append(pins, name+"=="+version)
		}
	}
	slices.Sort(pins)
	return pins, nil
}

//go:embed python_sdk.py
var pythonSDKScript []byte

// PycachePrefix is where local mode's Python workers keep bytecode
// (PYTHONPYCACHEPREFIX): in xflow's cache, not beside the user's files nor
// in the packages, and shared by every state folder, so that the runtime's
// boto3 is compiled once per interpreter, not at each first import.
func (b *Builder) PycachePrefix() string {
	root, err := b.cacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "xflow-pycache")
	}
	return filepath.Join(filepath.Dir(root), "pycache")
}

// PythonSDK returns a folder holding boto3 and what it needs, as Lambda's
// Python runtime provides them, for local mode to put after a handler's
// own package on its path: copied from a Python of this machine that has
// boto3, else installed by pip for in. Without either it returns "" and a
// warning that says how to add it. The folder is compiled for in into
// PycachePrefix: importing botocore from source takes seconds, which a
// handler's first invocation must not spend.
func (b *Builder) PythonSDK(ctx context.Context, in Interpreter) (dir, warning string) {
	dir, warning = b.pythonSDK(ctx, in)
	if dir != "" {
		b.compileSDK(ctx, in, dir)
	}
	return dir, warning
}

// compileSDK compiles an SDK folder for an interpreter, once.
func (b *Builder) compileSDK(ctx context.Context, in Interpreter, dir string) {
	prefix := b.PycachePrefix()
	h := newSHA()
	fmt.Fprintf(h, "%s\x00%s\x00%s", in.Path, in.Version, dir)
	marker := filepath.Join(prefix, fmt.Sprintf(".compiled-%x", h.Sum(nil)[:12]))
	if _, err := os.Stat(marker); err == nil {
		return
	}
	cmd := exec.CommandContext(ctx, in.Path, "-X", "pycache_prefix="+prefix, "-m", "compileall", "-q", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(b.progress, "xflow: compiling boto3 for %s failed (handlers will compile it at their first import): %v\n%s\n", in.Path, err, tailLines(string(out), 5))
		return
	}
	writeFileAtomic(marker, nil)
}

func (b *Builder) pythonSDK(ctx context.Context, in Interpreter) (dir, warning string) {
	root, err := b.cacheDir()
	if err != nil {
		return "", err.Error()
	}
	root = filepath.Join(filepath.Dir(root), "python-sdk")
	var donors []Interpreter
	if in.Boto3 {
		donors = append(donors, in)
	}
	for _, c := range []string{"python3", fmt.Sprintf("python%d.%d", in.Major, in.Minor)} {
		if d, err := probe(ctx, "python", c); err == nil && d.Boto3 && d.Path != in.Path {
			donors = append(donors, d)
		}
	}
	key, err := b.tools.get("sdk\x00"+in.Path, func() (string, error) {
		for _, d := range donors {
			out, err := exec.CommandContext(ctx, d.Path, "-I", "-c", "import importlib.metadata as m; print(m.version('boto3'))").Output()
			if err == nil {
				return d.Path + "\x00boto3-" + strings.TrimSpace(string(out)), nil
			}
		}
		return "", errors.New("no donor")
	})
	if err == nil {
		donor, name, _ := strings.Cut(key, "\x00")
		dir := filepath.Join(root, name)
		if _, err := os.Stat(filepath.Join(dir, "boto3")); err == nil {
			return dir, ""
		}
		if err := os.MkdirAll(root, 0o755); err == nil {
			if tmp, err := os.MkdirTemp(root, ".copy-"); err == nil {
				defer os.RemoveAll(tmp)
				script := filepath.Join(tmp, "copy_sdk.py")
				pkg := filepath.Join(tmp, "sdk")
				if os.WriteFile(script, pythonSDKScript, 0o644) == nil {
					cmd := exec.CommandContext(ctx, donor, "-I", script, pkg)
					if out, err := cmd.CombinedOutput(); err == nil {
						os.Chmod(pkg, 0o755)
						if os.Rename(pkg, dir) == nil || dirExists(filepath.Join(dir, "boto3")) {
							return dir, ""
						}
					} else {
						fmt.Fprintf(b.progress, "xflow: copying boto3 from %s failed: %v\n%s\n", donor, err, tailLines(string(out), 5))
					}
				}
			}
		}
	}
	// No Python here has boto3: ask pip, with the user's index.
	dir = filepath.Join(root, "boto3-pip-"+fmt.Sprintf("%d.%d", in.Major, in.Minor))
	if dirExists(filepath.Join(dir, "boto3")) {
		return dir, ""
	}
	if err := os.MkdirAll(root, 0o755); err == nil {
		if tmp, err := os.MkdirTemp(root, ".pip-"); err == nil {
			defer os.RemoveAll(tmp)
			cmd := exec.CommandContext(ctx, in.Path, "-m", "pip", "install", "--target", tmp, "--no-compile", "--only-binary=:all:", "boto3")
			cmd.Env = pipEnv()
			if cmd.Run() == nil && os.Rename(tmp, dir) == nil {
				return dir, ""
			}
		}
	}
	return "", fmt.Sprintf("no Python on this machine has boto3, which Lambda's Python runtime includes, and pip could not install it: handlers that import boto3 fail locally; add it with: %s -m pip install boto3", in.Path)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
