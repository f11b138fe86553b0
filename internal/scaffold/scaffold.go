// Package scaffold makes the files of a new xflow project, what `xflow
// init` writes: a commented xflow.yaml with a two-event workflow that
// validates and synthesizes as it is, one handler per runtime asked for,
// cdk.json, .gitignore, a README and, on request, a GitHub Actions workflow
// that checks pull requests and deploys the main branch.
//
// New never writes; Write puts the files in a folder and refuses to
// overwrite any unless told to.
package scaffold

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"

	"github.com/xflowhq/xflow"
	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
)

//go:embed templates
var templates embed.FS

// Runtimes are the runtimes init writes a handler for, the default first.
var Runtimes = []string{"python3.13", "nodejs22.x", "provided.al2023"}

// CISystems are the CI systems init writes a workflow for.
var CISystems = []string{"github"}

// Options say what the project holds.
type Options struct {
	// Name names the project in its README and stack; empty means
	// "xflow-app".
	Name string
	// Runtimes get one function and handler each; empty means the first
	// of Runtimes.
	Runtimes []string
	// CI is "" or one of CISystems.
	CI string
}

// Files are the project's files: slash-separated paths to contents.
type Files map[string][]byte

// Paths returns the file paths in order.
func (f Files) Paths() []string {
	out := make([]string, 0, len(f))
	for p := range f {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// project is everything the templates print, computed here so that the
// templates stay plain.
type project struct {
	Name, StackName string
	Lambdas         []function
	// ProcessedBy names the functions in the README's prose.
	ProcessedBy string
	GitHub      bool
	// BootstrapRuleKey is the CDK context key cdk.json sets.
	BootstrapRuleKey string
}

type function struct {
	Name, Description, Source, Handler, Runtime, Architecture string
	Language                                                  string
	// GoDir is the folder of a Go handler, "" for the others.
	GoDir string
}

// goModule is what a Go handler's go.mod prints.
type goModule struct {
	Module, GoVersion string
	Direct, Indirect  []string
}

// handlerModules are the modules a Go handler imports (aws-lambda-go and
// the SDK's Kinesis client), then the modules those need to build. Their
// versions are xflow's own, which the module cache already holds wherever
// xflow was built, so the handler builds offline. A test builds it with
// GOFLAGS=-mod=readonly and GOPROXY=off, which fails when an SDK update
// needs one more.
var handlerModules = struct{ direct, indirect []string }{
	direct: []string{
		"github.com/aws/aws-lambda-go",
		"github.com/aws/aws-sdk-go-v2",
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/service/kinesis",
	},
	indirect: []string{
		"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream",
		"github.com/aws/aws-sdk-go-v2/credentials",
		"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		"github.com/aws/aws-sdk-go-v2/internal/configsources",
		"github.com/aws/aws-sdk-go-v2/internal/endpoints/v2",
		"github.com/aws/aws-sdk-go-v2/internal/v4a",
		"github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding",
		"github.com/aws/aws-sdk-go-v2/service/internal/presigned-url",
		"github.com/aws/aws-sdk-go-v2/service/signin",
		"github.com/aws/aws-sdk-go-v2/service/sso",
		"github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/sts",
		"github.com/aws/smithy-go",
	},
}

// New renders the project's files.
func New(opts Options) (Files, error) {
	p, err := newProject(opts)
	if err != nil {
		return nil, err
	}
	files := Files{}
	render := func(tmpl, out string, data any) error {
		b, err := renderTemplate(tmpl, data)
		if err != nil {
			return err
		}
		files[out] = b
		return nil
	}
	for tmpl, out := range map[string]string{
		"xflow.yaml.tmpl": "xflow.yaml",
		"README.md.tmpl":  "README.md",
		"cdk.json.tmpl":   "cdk.json",
		"gitignore.tmpl":  ".gitignore",
	} {
		if err := render(tmpl, out, p); err != nil {
			return nil, err
		}
	}
	if p.GitHub {
		if err := render("github-workflow.yml.tmpl", CIWorkflow, p); err != nil {
			return nil, err
		}
	}
	for _, f := range p.Lambdas {
		if f.GoDir == "" {
			b, err := templates.ReadFile("templates/" + path.Base(f.Source))
			if err != nil {
				return nil, fmt.Errorf("read the %s handler: %w", f.Language, err)
			}
			files[f.Source] = b
			continue
		}
		mod, sum, err := handlerModule(f.Name)
		if err != nil {
			return nil, err
		}
		if err := render("go/main.go.tmpl", f.GoDir+"/main.go", f); err != nil {
			return nil, err
		}
		if err := render("go/go.mod.tmpl", f.GoDir+"/go.mod", mod); err != nil {
			return nil, err
		}
		files[f.GoDir+"/go.sum"] = sum
	}
	return files, nil
}

// CIWorkflow is where the GitHub Actions workflow goes.
const CIWorkflow = ".github/workflows/xflow.yml"

// CI renders the CI/CD workflow alone, for a project that exists: the
// config c, at the root of the repository. xflow synth builds every
// function's package there, so each local source must be inside the
// repository.
func CI(c *config.Config, ci string) (Files, error) {
	if !slices.Contains(CISystems, ci) {
		return nil, fmt.Errorf("--ci %q: xflow init writes workflows for %s", ci, strings.Join(CISystems, ", "))
	}
	p := project{GitHub: true, BootstrapRuleKey: spec.ContextBootstrapVersionRule}
	for _, l := range c.Lambdas {
		if l.Code.Kind != config.CodeDir && l.Code.Kind != config.CodeFile && l.Code.Kind != config.CodeZip {
			continue
		}
		if rel, err := filepath.Rel(c.Dir, l.Code.Path); err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("lambda %s: its source %s is outside the project's folder, where CI cannot build it", l.Name, l.Code.Path)
		}
	}
	b, err := renderTemplate("github-workflow.yml.tmpl", p)
	if err != nil {
		return nil, err
	}
	return Files{CIWorkflow: b}, nil
}

var nameRe = regexp.MustCompile(`[^A-Za-z0-9-]+`)

func newProject(opts Options) (project, error) {
	rts := opts.Runtimes
	if len(rts) == 0 {
		rts = Runtimes[:1]
	}
	p := project{Name: opts.Name, GitHub: opts.CI == "github", BootstrapRuleKey: spec.ContextBootstrapVersionRule}
	if opts.CI != "" && !slices.Contains(CISystems, opts.CI) {
		return p, fmt.Errorf("--ci %q: xflow init writes workflows for %s", opts.CI, strings.Join(CISystems, ", "))
	}
	if p.Name == "" {
		p.Name = "xflow-app"
	}
	// A stack name from the project's: letters, digits and '-', starting
	// with a letter.
	p.StackName = strings.Trim(nameRe.ReplaceAllString(p.Name, "-"), "-")
	if c := (p.StackName + "0")[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		p.StackName = strings.TrimSuffix("xflow-"+p.StackName, "-")
	}
	if len(p.StackName) > 100 || names.CheckStackName(p.StackName) != nil {
		p.StackName = "xflow-app"
	}
	var seen []string
	for _, rt := range rts {
		if !slices.Contains(Runtimes, rt) {
			return p, fmt.Errorf("--runtime %q: xflow init writes handlers for %s", rt, strings.Join(Runtimes, ", "))
		}
		if slices.Contains(seen, rt) {
			continue
		}
		seen = append(seen, rt)
		f := function{Name: "process_task", Runtime: rt, Handler: "handle"}
		switch config.RuntimeFamily(rt) {
		case "python":
			f.Language, f.Source = "Python", "functions/process_task.py"
		case "nodejs":
			f.Language, f.Source = "Node.js", "functions/process_task.mjs"
		case "provided":
			// The binary runs on Graviton: cheaper, and what the tracker uses.
			f.Language, f.Source, f.Handler, f.Architecture = "Go", "functions/process_task_go", "", "arm64"
			f.GoDir = f.Source
		}
		p.Lambdas = append(p.Lambdas, f)
	}
	var fnNames []string
	for i := range p.Lambdas {
		f := &p.Lambdas[i]
		if len(p.Lambdas) > 1 {
			f.Name += "_" + map[string]string{"Python": "python", "Node.js": "nodejs", "Go": "go"}[f.Language]
		}
		f.Description = "Processes a submitted task (" + f.Language + ")."
		fnNames = append(fnNames, "`"+f.Name+"`")
	}
	p.ProcessedBy = fnNames[0]
	if n := len(fnNames); n > 1 {
		p.ProcessedBy = strings.Join(fnNames[:n-1], ", ") + " and " + fnNames[n-1]
	}
	return p, nil
}

func renderTemplate(name string, data any) ([]byte, error) {
	t := template.New(path.Base(name)).Option("missingkey=error")
	if strings.HasSuffix(name, ".yml.tmpl") {
		// GitHub's expressions are ${{ … }}. A value from the user's
		// project (a folder's name) is written quoted: a JSON string is
		// a YAML one, whatever it holds (" #", ": ", a leading "*").
		t = t.Delims("[[", "]]").Funcs(template.FuncMap{"yaml": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		}})
	}
	t, err := t.ParseFS(templates, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	if strings.HasSuffix(name, ".go.tmpl") {
		out, err := format.Source(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("gofmt %s: %w\n%s", name, err, buf.Bytes())
		}
		return out, nil
	}
	return buf.Bytes(), nil
}

// handlerModule returns a Go handler's go.mod data and go.sum, with
// xflow's own versions of the modules it needs.
func handlerModule(name string) (goModule, []byte, error) {
	data, err := xflow.AppSources.ReadFile("go.mod")
	if err != nil {
		return goModule{}, nil, fmt.Errorf("read xflow's go.mod: %w", err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return goModule{}, nil, fmt.Errorf("parse xflow's go.mod: %w", err)
	}
	versions := map[string]string{}
	for _, r := range mf.Require {
		versions[r.Mod.Path] = r.Mod.Version
	}
	mod := goModule{Module: name, GoVersion: mf.Go.Version}
	pinned := map[string]string{} // "path version" → path
	for _, list := range []struct {
		paths []string
		out   *[]string
	}{{handlerModules.direct, &mod.Direct}, {handlerModules.indirect, &mod.Indirect}} {
		for _, p := range list.paths {
			v, ok := versions[p]
			if !ok {
				return goModule{}, nil, fmt.Errorf("xflow's go.mod does not require %s, which a Go handler needs", p)
			}
			*list.out = append(*list.out, p+" "+v)
			pinned[p+" "+v] = p
		}
	}
	sums, err := xflow.AppSources.ReadFile("go.sum")
	if err != nil {
		return goModule{}, nil, fmt.Errorf("read xflow's go.sum: %w", err)
	}
	var sum bytes.Buffer
	for _, line := range strings.SplitAfter(string(sums), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			if _, ok := pinned[f[0]+" "+strings.TrimSuffix(f[1], "/go.mod")]; ok {
				sum.WriteString(line)
			}
		}
	}
	return mod, sum.Bytes(), nil
}

// ExistsError lists the files that Write would overwrite.
type ExistsError struct {
	Dir   string
	Paths []string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already has %s; nothing was written (pass --force to overwrite, or init another folder)", e.Dir, strings.Join(e.Paths, ", "))
}

// Write writes the files under dir, creating it and the folders it needs.
// Unless force is set it first checks that none of the files exists, and
// refuses with an *ExistsError listing them all. Each file is written to a
// temporary file and renamed into place.
func Write(dir string, files Files, force bool) error {
	if !force {
		var exist []string
		for _, p := range files.Paths() {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); !errors.Is(err, fs.ErrNotExist) {
				exist = append(exist, p)
			}
		}
		if len(exist) > 0 {
			return &ExistsError{Dir: dir, Paths: exist}
		}
	}
	for _, p := range files.Paths() {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create the folder of %s: %w", p, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(full), "."+filepath.Base(full)+".new-")
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		_, err = tmp.Write(files[p])
		if closeErr := tmp.Close(); err == nil {
			err = closeErr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), full)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
