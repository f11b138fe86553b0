package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// npmCPU is npm's name of a Lambda architecture, for --cpu: which native
// optional dependencies (esbuild's, sharp's…) npm installs.
func npmCPU(arch string) string {
	if arch == "arm64" {
		return "arm64"
	}
	return "x64"
}

// nodeBuild packages a Node.js function: its folder plus `npm ci
// --omit=dev`, or with bundle: esbuild, one file that esbuild bundled
// from its handler's module, as the CDK's NodejsFunction does. This
// machine runs the same package.
func (b *Builder) nodeBuild(ctx context.Context, s source, kind string) (*Artifact, error) {
	src := s.l.Code.Path
	hasPackage := false
	if s.l.Code.Kind == config.CodeDir {
		if _, err := os.Stat(filepath.Join(src, "package.json")); err == nil {
			hasPackage = true
		}
	}
	if hasPackage && !fileExists(filepath.Join(src, "package-lock.json")) && !fileExists(filepath.Join(src, "npm-shrinkwrap.json")) {
		return nil, s.fail(nil, fmt.Sprintf("%s has a package.json and no package-lock.json: xflow installs exactly what the lock file says (npm ci)", src),
			fmt.Sprintf("run `npm install` in %s and commit the package-lock.json it writes", src), "")
	}
	ks := s
	ks.target = Lambda
	k := newKey(kind, ks)
	var npm, tool string
	if hasPackage {
		var err error
		if npm, err = exec.LookPath("npm"); err != nil {
			return nil, s.fail(err, "its package.json lists dependencies to install, and npm is not on PATH", "install Node.js with npm (https://nodejs.org, or Debian's nodejs and npm packages)", "")
		}
		v, err := b.tools.get("npm\x00"+npm, func() (string, error) {
			if v := npmPackageVersion(npm); v != "" {
				return "npm " + v, nil
			}
			out, err := exec.CommandContext(ctx, npm, "--version").Output()
			return "npm " + strings.TrimSpace(string(out)), err
		})
		if err != nil {
			return nil, s.fail(err, fmt.Sprintf("%s --version failed: %v", npm, err), "check that npm runs", "")
		}
		tool = v
		k.field("npm", v)
		k.field("cpu", npmCPU(s.arch))
	}
	if kind == KindBundle {
		k.field("esbuild", nodejs.EsbuildPackage)
		tool = strings.TrimSpace(strings.TrimPrefix(tool+", "+nodejs.EsbuildPackage, ", "))
	}
	if err := k.tree("source", src, skipInstalled(src)); err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its source: %v", err), "", "")
	}
	key := k.sum()
	defer b.lockKey(key)()
	finish := func(a *Artifact) (*Artifact, error) {
		out := *a
		out.Target = s.target
		if s.target == Host {
			if err := b.attachInterpreter(ctx, s, &out); err != nil {
				return nil, err
			}
		}
		return &out, nil
	}
	if a := b.cached(key); a != nil {
		return finish(a)
	}
	start := time.Now()
	dir, err := b.staging(s)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	work := dir
	if kind == KindBundle {
		// esbuild reads the source and its node_modules from here and
		// writes the bundle alone into dir.
		if work, err = os.MkdirTemp(filepath.Dir(dir), ".bundle-"+s.l.Name+"-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	name := filepath.Base(src)
	if err := copyTree(src, work, name, skipInstalled(src)); err != nil {
		return nil, s.fail(err, fmt.Sprintf("copy its source: %v", err), "", "")
	}
	if hasPackage {
		fmt.Fprintf(b.progress, "xflow: building %s (npm ci, linux/%s)\n", s.l.Name, npmCPU(s.arch))
		args := []string{"ci", "--no-audit", "--no-fund", "--loglevel=error", "--os=linux", "--cpu=" + npmCPU(s.arch)}
		if kind != KindBundle {
			// The package ships what runs, not what builds or tests; a
			// bundle takes only what its code imports, from either.
			args = append(args, "--omit=dev")
		}
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = work
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.fail(err, fmt.Sprintf("npm %s in a copy of %s failed: %v", strings.Join(args, " "), src, err),
				"fix what npm says below (is package-lock.json in step with package.json? run `npm install` to update it); npm's own configuration (.npmrc, npm_config_registry) says where packages come from", out.String())
		}
	}
	if kind == KindBundle {
		if err := b.bundle(ctx, s, work, dir); err != nil {
			return nil, err
		}
	}
	a, err := b.commit(s, key, dir, &Artifact{Kind: kind, Tool: tool}, start)
	if err != nil {
		return nil, err
	}
	return finish(a)
}

// nodeExtensions are the files a handler's module may be, in the order
// tried, as esbuild reads them.
var nodeExtensions = []string{".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"}

// bundle runs esbuild on the handler's module in work, writing the bundle
// into out under the module's name, so that the handler setting is the
// same bundled or not. ES modules (.mjs, .mts, or "type": "module") stay
// ES modules.
func (b *Builder) bundle(ctx context.Context, s source, work, out string) error {
	module := s.l.Handler
	if i := strings.LastIndex(module, "."); i > 0 {
		module = module[:i]
	}
	var entry string
	for _, ext := range nodeExtensions {
		if fileExists(filepath.Join(work, module+ext)) {
			entry = module + ext
			break
		}
	}
	if s.l.Code.Kind == config.CodeFile {
		entry = filepath.Base(s.l.Code.Path)
		module = strings.TrimSuffix(entry, filepath.Ext(entry))
	}
	if entry == "" {
		return s.fail(nil, fmt.Sprintf("bundle: esbuild needs the handler's module %s (%s) in %s, and there is none", module, strings.Join(nodeExtensions, ", "), s.l.Code.Path),
			"set handler: to module.function, where module is the file's path without its extension", "")
	}
	esm := strings.HasSuffix(entry, ".mjs") || strings.HasSuffix(entry, ".mts")
	if !esm && !strings.HasSuffix(entry, ".cjs") && !strings.HasSuffix(entry, ".cts") {
		var pkg struct {
			Type string `json:"type"`
		}
		if data, err := os.ReadFile(filepath.Join(work, "package.json")); err == nil && json.Unmarshal(data, &pkg) == nil {
			esm = pkg.Type == "module"
		}
	}
	esbuild, err := nodejs.EnsureEsbuild(ctx, b.progress)
	if err != nil {
		return s.fail(err, err.Error(), "", "")
	}
	major, _, _ := RuntimeVersion(s.l.Runtime)
	args := []string{entry, "--bundle", "--platform=node", fmt.Sprintf("--target=node%d", major),
		// As on Lambda, whose Node.js runtimes include the AWS SDK v3.
		"--external:@aws-sdk/*", "--log-level=warning"}
	if esm {
		// An ES module bundle may hold CommonJS code that calls require.
		args = append(args, "--format=esm", "--outfile="+filepath.Join(out, module+".mjs"),
			"--banner:js=import { createRequire as __xflowCreateRequire } from 'module'; const require = __xflowCreateRequire(import.meta.url);")
	} else {
		args = append(args, "--format=cjs", "--outfile="+filepath.Join(out, module+".js"))
	}
	fmt.Fprintf(b.progress, "xflow: bundling %s (esbuild %s)\n", s.l.Name, entry)
	cmd := exec.CommandContext(ctx, esbuild, args...)
	cmd.Dir = work
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(err, fmt.Sprintf("esbuild could not bundle %s: %v", entry, err), "fix what esbuild says below", buf.String())
	}
	return nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// npmPackageVersion reads npm's version from its own package.json, beside
// the script the npm command links to: asking `npm --version` starts
// Node.js, a fifth of a second at every synth. "" when it is elsewhere.
func npmPackageVersion(npm string) string {
	real, err := filepath.EvalSymlinks(npm)
	if err != nil {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(real), "..", "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct{ Name, Version string }
	if json.Unmarshal(data, &pkg) != nil || pkg.Name != "npm" {
		return ""
	}
	return pkg.Version
}
