// Package generator compiles a loaded config into the files of a CDK Go
// app, writes them atomically, and builds and runs the app to synthesize
// the CloudFormation cloud assembly.
//
// Generate never writes: it returns the files in memory, which makes tests
// and a diff mode free. Write puts them in place all at once or not at all.
package generator

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/xflowhq/xflow"
	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/templates"
)

// Files maps a slash-separated path inside the app folder to its content.
type Files map[string][]byte

// Paths returns the file paths in order.
func (f Files) Paths() []string {
	out := make([]string, 0, len(f))
	for p := range f {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Options say where the app will live and what it packages.
type Options struct {
	// AppDir is the folder the app will be written to. Local source paths
	// in the spec are relative to it.
	AppDir string
	// Artifacts are the built packages of the functions with a local or
	// git source (build.Builder, for the Lambda target), one per such
	// function. Write links them into the app.
	Artifacts []*build.Artifact
}

// Generated-app constants.
const (
	AppName   = "xflowapp"
	ModuleDir = "xflow" // where the packaged xflow sources go
)

// Generate renders the CDK Go app of a config.
func Generate(c *config.Config, opts Options) (Files, error) {
	appDir, err := filepath.Abs(opts.AppDir)
	if err != nil {
		return nil, fmt.Errorf("locate app folder: %w", err)
	}
	byLambda := map[string]*build.Artifact{}
	for _, a := range opts.Artifacts {
		byLambda[a.Lambda] = a
	}
	s, err := Resolve(c, appDir, byLambda)
	if err != nil {
		return nil, err
	}
	files := Files{}
	specJSON, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	files[spec.File] = append(specJSON, '\n')

	goVersion, requires, err := rootRequires()
	if err != nil {
		return nil, err
	}
	configPath, err := filepath.Rel(appDir, filepath.Join(c.Dir, filepath.Base(c.File)))
	if err != nil {
		configPath = c.File
	}
	data := appData{
		AppName:     AppName,
		ConfigPath:  filepath.ToSlash(configPath),
		SpecFile:    spec.File,
		ModuleDir:   ModuleDir,
		XflowModule: xflow.Module,
		GoVersion:   goVersion,
		Requires:    requires,

		BootstrapRuleKey: spec.ContextBootstrapVersionRule,
	}
	for name, out := range map[string]string{
		"main.go.tmpl":   "main.go",
		"go.mod.tmpl":    "go.mod",
		"cdk.json.tmpl":  "cdk.json",
		"gitignore.tmpl": ".gitignore",
	} {
		b, err := render(name, data)
		if err != nil {
			return nil, err
		}
		files[out] = b
	}
	sum, err := xflow.AppSources.ReadFile("go.sum")
	if err != nil {
		return nil, fmt.Errorf("read packaged go.sum: %w", err)
	}
	files["go.sum"] = sum
	if err := addModuleSources(files); err != nil {
		return nil, err
	}
	return files, nil
}

// appData is everything the templates print.
type appData struct {
	AppName, ConfigPath, SpecFile, ModuleDir, XflowModule, GoVersion string
	Requires                                                         []string
	// BootstrapRuleKey is the context key cdk.json sets, so that cdk
	// synth in the app's folder keeps the bootstrap-version rule on.
	BootstrapRuleKey string
}

func render(name string, data appData) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").ParseFS(templates.FS, name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	if strings.HasSuffix(name, ".go.tmpl") {
		return formatGo(name, buf.Bytes())
	}
	return buf.Bytes(), nil
}

// formatGo gofmts generated Go. A failure is a bug in a template, so the
// error shows the broken source with line numbers.
func formatGo(name string, src []byte) ([]byte, error) {
	out, err := format.Source(src)
	if err != nil {
		var b strings.Builder
		for i, line := range strings.Split(string(src), "\n") {
			fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
		}
		return nil, fmt.Errorf("gofmt %s: %w\n%s", name, err, b.String())
	}
	return out, nil
}

// appRequires lists the modules the generated app needs, as `go mod tidy`
// computes them for it: the CDK, jsii, and what the packaged constructs and
// tracker import, at the versions xflow is built and tested with. Tests
// keep it equal to tidy's answer (TestAppRequiresTidy; -update rewrites it).
//
//go:embed app.requires
var appRequires string

// rootRequires returns xflow's go directive and the app's requirements.
func rootRequires() (goVersion string, requires []string, err error) {
	mod, err := xflow.AppSources.ReadFile("go.mod")
	if err != nil {
		return "", nil, fmt.Errorf("read packaged go.mod: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "go "); ok {
			goVersion = v
		}
	}
	for _, line := range strings.Split(appRequires, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			requires = append(requires, line)
		}
	}
	if goVersion == "" || len(requires) == 0 {
		return "", nil, fmt.Errorf("packaged go.mod has no go directive, or app.requires is empty")
	}
	return goVersion, requires, nil
}

// addModuleSources copies the packaged xflow sources into the app's
// module folder, without tests.
func addModuleSources(files Files) error {
	return fs.WalkDir(xflow.AppSources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := xflow.AppSources.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read packaged %s: %w", p, err)
		}
		files[path.Join(ModuleDir, p)] = b
		return nil
	})
}
