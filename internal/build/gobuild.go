package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// goFlags are the flags of every Go build: reproducible (no paths, no VCS
// stamp, no symbols), and without the RPC server aws-lambda-go keeps only
// for the retired go1.x runtime.
var goFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags=-s -w"}

// goKeyEnv are the variables of the caller's environment that change
// what `go build` produces, so they are part of the key.
var goKeyEnv = []string{"GOFLAGS", "GOEXPERIMENT", "GOTOOLCHAIN"}

// goArch maps a Lambda architecture to GOARCH.
func goArch(arch string) string {
	if arch == "arm64" {
		return "arm64"
	}
	return "amd64"
}

// goBuild compiles a Go main package into bootstrap: for linux and the
// function's architecture, or for this machine.
func (b *Builder) goBuild(ctx context.Context, s source) (*Artifact, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("runtime %s with Go source needs the go command to build it, and none is on PATH", s.l.Runtime), "install Go from https://go.dev/dl and put it on PATH", "")
	}
	src := s.l.Code.Path
	pkgDir, target := src, "."
	if s.l.Code.Kind == config.CodeFile {
		pkgDir, target = filepath.Dir(src), filepath.Base(src)
	}
	modRoot := pkgDir
	for {
		if _, err := os.Stat(filepath.Join(modRoot, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(modRoot)
		if parent == modRoot {
			return nil, s.fail(nil, fmt.Sprintf("its Go source %s is in no module (no go.mod in it or above)", pkgDir),
				fmt.Sprintf("run `go mod init example.com/%s && go mod tidy` in %s", s.l.Name, pkgDir), "")
		}
		modRoot = parent
	}
	goos, goarch := "linux", goArch(s.arch)
	if s.target == Host {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	env := []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0", "GOWORK=off"}
	// Pin the instruction-set level, so that a GOAMD64 or GOARM64 of the
	// caller cannot change the bytes behind an unchanged key.
	if goarch == "arm64" {
		env = append(env, "GOARM64=v8.0")
	} else if goarch == "amd64" {
		env = append(env, "GOAMD64=v1")
	}
	version, err := b.tools.goVersion(ctx, goBin, modRoot)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("run `go version` in %s: %v", modRoot, err), "check the go and toolchain lines of its go.mod", "")
	}

	// A build for this machine that is linux on the function's
	// architecture gives the same bytes as the one for Lambda: share it.
	ks := s
	if goos == "linux" && goarch == goArch(s.arch) {
		ks.target = Lambda
	}
	k := newKey(KindGo, ks)
	k.field("go", version)
	k.field("env", strings.Join(env, " "))
	k.field("flags", strings.Join(goFlags, " "))
	k.field("package", filepath.ToSlash(mustRel(modRoot, pkgDir))+" "+target)
	for _, name := range goKeyEnv {
		k.field("env:"+name, os.Getenv(name))
	}
	if err := k.tree("module", modRoot, skipInstalled(modRoot)); err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its module %s: %v", modRoot, err), "", "")
	}
	// Modules replaced by a local folder are built from that folder.
	for _, dir := range localReplacements(modRoot) {
		if err := k.tree("replace", dir, skipInstalled(dir)); err != nil {
			return nil, s.fail(err, fmt.Sprintf("read %s, which its go.mod's replace names: %v", dir, err), "", "")
		}
	}
	key := k.sum()
	defer b.lockKey(key)()
	tool := goos + "/" + goarch
	if f := strings.Fields(version); len(f) >= 3 {
		tool = f[2] + " " + tool // go version go1.26.8 linux/amd64
	}
	if a := b.cached(key); a != nil {
		a.Target = s.target
		return a, nil
	}
	start := time.Now()
	dir, err := b.staging(s)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(b.progress, "xflow: building %s (go build, %s/%s)\n", s.l.Name, goos, goarch)
	args := append(append([]string{"build"}, goFlags...), "-o", filepath.Join(dir, "bootstrap"), target)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.fail(err, fmt.Sprintf("go build of %s for %s/%s failed: %v", pkgDir, goos, goarch, err),
			fmt.Sprintf("fix what go says below; to try it yourself: cd %s && GOOS=%s GOARCH=%s CGO_ENABLED=0 go build -tags lambda.norpc %s", pkgDir, goos, goarch, target), out.String())
	}
	if err := os.Chmod(filepath.Join(dir, "bootstrap"), 0o755); err != nil {
		return nil, err
	}
	a, err := b.commit(s, key, dir, &Artifact{Kind: KindGo, Tool: tool}, start)
	if err != nil {
		return nil, err
	}
	built := *a
	built.Target = s.target
	return &built, nil
}

// localReplacements returns the folders a go.mod's replace directives
// point at.
func localReplacements(modRoot string) []string {
	data, err := os.ReadFile(filepath.Join(modRoot, "go.mod"))
	if err != nil {
		return nil
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil
	}
	var dirs []string
	for _, r := range f.Replace {
		if r.New.Version == "" && modfile.IsDirectoryPath(r.New.Path) {
			p := r.New.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(modRoot, p)
			}
			dirs = append(dirs, filepath.Clean(p))
		}
	}
	return dirs
}

func mustRel(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return rel
}

// toolVersions remembers what tools said of their version, for the life
// of a Builder: a warm synth asks once per tool, not once per function.
type toolVersions struct {
	mu   sync.Mutex
	seen map[string]string
}

func (t *toolVersions) get(key string, ask func() (string, error)) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.seen[key]; ok {
		return v, nil
	}
	v, err := ask()
	if err != nil {
		return "", err
	}
	if t.seen == nil {
		t.seen = map[string]string{}
	}
	t.seen[key] = v
	return v, nil
}

// goVersion is `go version` run in a module, whose go and toolchain lines
// may select another toolchain.
func (t *toolVersions) goVersion(ctx context.Context, goBin, modRoot string) (string, error) {
	gomod, _ := os.ReadFile(filepath.Join(modRoot, "go.mod"))
	var toolchain string
	if f, err := modfile.ParseLax("go.mod", gomod, nil); err == nil {
		if f.Go != nil {
			toolchain = "go " + f.Go.Version
		}
		if f.Toolchain != nil {
			toolchain += " toolchain " + f.Toolchain.Name
		}
	}
	id := binaryID(goBin)
	return t.get("go\x00"+goBin+"\x00"+toolchain+"\x00"+os.Getenv("GOTOOLCHAIN"), func() (string, error) {
		// Remembered on disk too, by the go binary's identity: a warm
		// synth runs no go command.
		memo := ""
		if id != "" {
			if cache, err := nodejs.CacheDir(); err == nil {
				h := newSHA()
				fmt.Fprintf(h, "go version v1\x00%s\x00%s\x00%s\x00%s", id, toolchain, os.Getenv("GOTOOLCHAIN"), os.Getenv("GOROOT"))
				memo = filepath.Join(cache, "probes", fmt.Sprintf("go-%x", h.Sum(nil)[:16]))
				if b, err := os.ReadFile(memo); err == nil && len(b) > 0 {
					return string(b), nil
				}
			}
		}
		cmd := exec.CommandContext(ctx, goBin, "version")
		cmd.Dir = modRoot
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return "", fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
			}
			return "", err
		}
		v := strings.TrimSpace(string(out))
		if memo != "" {
			writeFileAtomic(memo, []byte(v))
		}
		return v, nil
	})
}

// binaryID identifies an executable by its real path, size and
// modification time; "" when it cannot be read.
func binaryID(p string) string {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(real)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s\x00%d\x00%d", real, fi.Size(), fi.ModTime().UnixNano())
}
