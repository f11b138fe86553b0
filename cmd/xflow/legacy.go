package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The original xFlow's command line (xflow/__init__.py, argparse) keeps
// working for people moving from it:
//
//	xflow CONFIG [-v] [-c] [-s] [-p STREAM DATA] [-t WORKFLOW_ID EXECUTION_ID] [--log-level LEVEL]
//
// Its argparse defined only those short options and --log-level; its
// usage text and README wrote the long forms --validate, --configure,
// --publish, --track and --server, which are accepted too. Options could
// come before or after CONFIG, several at once, and short flags could be
// grouped (-vc). Validation always ran first; then -s (configure, then
// serve until stopped), -c (configure), -p (publish), -t (track, printing
// JSON), in that order. Each is translated into the new command that does
// the same, with a one-line note on stderr giving the new form.

// originalUsage is the original's synopsis, for its usage errors.
const originalUsage = "xflow CONFIG [-v] [-c] [-s] [-p STREAM DATA] [-t WORKFLOW_ID EXECUTION_ID] [--log-level LEVEL]"

// original is a command line of the original xFlow, translated.
type original struct {
	steps [][]string // the new command lines, run in order
	err   error      // what is wrong with the original command line
}

// originalFlags are the original's options and the values each takes.
var originalFlags = map[string]struct {
	action string
	values int
}{
	"-v": {"validate", 0}, "--validate": {"validate", 0},
	"-c": {"configure", 0}, "--configure": {"configure", 0},
	"-s": {"server", 0}, "--server": {"server", 0},
	"-p": {"publish", 2}, "--publish": {"publish", 2},
	"-t": {"track", 2}, "--track": {"track", 2},
	"-h": {"help", 0}, "--help": {"help", 0}, // argparse's own
}

// isConfigFile says whether an argument names a config: a file that
// exists, or a name ending in .cfg, .yaml or .yml.
func isConfigFile(arg string) bool {
	if arg == "" || strings.HasPrefix(arg, "-") {
		return false
	}
	switch strings.ToLower(filepath.Ext(arg)) {
	case ".cfg", ".yaml", ".yml":
		return true
	}
	fi, err := os.Stat(arg)
	return err == nil && fi.Mode().IsRegular()
}

// fromOriginal recognises and translates the original command line. It
// does when the first argument names a config file and is not one of the
// new commands, or when it is one of the original's options and a config
// file follows (a line the new commands would refuse anyway).
func fromOriginal(args []string) (*original, bool) {
	if len(args) == 0 {
		return nil, false
	}
	first := args[0]
	_, isOption := originalFlags[first]
	isOption = isOption || isLogLevel(first) || isShortGroup(first)
	if !isOption && (!isConfigFile(first) || isCommand(first)) {
		return nil, false
	}
	p, err := parseOriginal(args)
	if isOption && (len(p.positionals) == 0 || !isConfigFile(p.positionals[0]) || slices.ContainsFunc(p.positionals, isCommand)) {
		return nil, false // "xflow -c xflow.yaml validate" is the new command line
	}
	if err != nil {
		return &original{err: err}, true
	}
	steps, err := p.translate()
	// -c and -s deploy, without a prompt. Options first is also how the
	// new command line reads (-c is its config flag), so a line that
	// starts with one deploys only when the config file comes first, as
	// the original's usage wrote it.
	if err == nil && isOption && slices.ContainsFunc(steps, func(s []string) bool { return s[0] == "deploy" || s[0] == "server" }) {
		file := p.positionals[0]
		rest := slices.Clone(args)
		rest = slices.Delete(rest, slices.Index(rest, file), slices.Index(rest, file)+1)
		err = fmt.Errorf("in the original xFlow's command line -c (--configure) and -s (--server) deploy, and xflow takes them that way only after the config file (xflow %s %s); "+
			"to deploy, write xflow deploy -c %s; for a new command, name it first: xflow validate -c %s", file, strings.Join(rest, " "), file, file)
	}
	return &original{steps: steps, err: err}, true
}

// isCommand says whether a name is a command of the new command line.
func isCommand(name string) bool {
	if name == "help" || name == "completion" {
		return true
	}
	for _, c := range newRootCmd(streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard}).Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}

// originalLine is a parsed original command line.
type originalLine struct {
	positionals []string
	actions     map[string][]string // action → its values
	logLevel    string
}

// isLogLevel matches --log-level and the abbreviations argparse accepted
// (--log, --log-l…), with or without =VALUE.
func isLogLevel(arg string) bool {
	name, _, _ := strings.Cut(arg, "=")
	return len(name) >= len("--l") && strings.HasPrefix("--log-level", name)
}

// shortGroupRe matches grouped short flags as argparse read them: -vc,
// -cs, and -cp / -ct whose last flag takes values.
var shortGroupRe = regexp.MustCompile(`^-[vcs]+[pt]?$|^-[vcs]*[pt]$`)

func isShortGroup(arg string) bool { return len(arg) > 2 && shortGroupRe.MatchString(arg) }

func parseOriginal(args []string) (originalLine, error) {
	p := originalLine{actions: map[string][]string{}}
	take := func(i int, flag string, n int) ([]string, error) {
		if i+n >= len(args) {
			return nil, fmt.Errorf("%s takes %s (usage: %s)", flag, valuesOf(flag), originalUsage)
		}
		vals := args[i+1 : i+1+n]
		for _, v := range vals {
			if strings.HasPrefix(v, "-") && len(v) > 1 {
				return nil, fmt.Errorf("%s takes %s, not %q (usage: %s)", flag, valuesOf(flag), v, originalUsage)
			}
		}
		return vals, nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			p.positionals = append(p.positionals, args[i+1:]...)
			i = len(args)
		case isLogLevel(a):
			if _, v, ok := strings.Cut(a, "="); ok {
				p.logLevel = v
				continue
			}
			vals, err := take(i, "--log-level", 1)
			if err != nil {
				return p, err
			}
			p.logLevel, i = vals[0], i+1
		case isShortGroup(a) || originalFlags[a].action != "":
			flags := []string{a}
			if isShortGroup(a) {
				flags = flags[:0]
				for _, ch := range a[1:] {
					flags = append(flags, "-"+string(ch))
				}
			}
			for _, f := range flags {
				spec := originalFlags[f]
				vals, err := take(i, f, spec.values)
				if err != nil {
					return p, err
				}
				p.actions[spec.action] = vals
				i += spec.values
			}
		case strings.HasPrefix(a, "-") && a != "-":
			return p, fmt.Errorf("the original xflow had no option %s (usage: %s)", a, originalUsage)
		default:
			p.positionals = append(p.positionals, a)
		}
	}
	switch {
	case len(p.positionals) == 0:
		return p, fmt.Errorf("the original command line needs a config file (usage: %s)", originalUsage)
	case len(p.positionals) > 1:
		return p, fmt.Errorf("unexpected arguments %q after the config file (usage: %s)", p.positionals[1:], originalUsage)
	}
	return p, nil
}

func valuesOf(flag string) string {
	switch originalFlags[flag].action {
	case "publish":
		return "STREAM and DATA"
	case "track":
		return "WORKFLOW_ID and EXECUTION_ID"
	}
	return "LEVEL"
}

// translate returns the new command lines of an original one.
func (p originalLine) translate() ([][]string, error) {
	file := p.positionals[0]
	a := p.actions
	if _, ok := a["help"]; ok {
		return [][]string{{"--help"}}, nil
	}
	if _, ok := a["server"]; ok {
		_, pub := a["publish"]
		_, trk := a["track"]
		if pub || trk {
			return nil, fmt.Errorf("-s serves until it is stopped, and the original never reached -p or -t after it: " +
				"publish with POST /publish, or run the other option in another terminal")
		}
		// The original configured the workflow on startup; -c with -s
		// adds nothing.
		step := []string{"server", "-c", file, "--deploy"}
		if lv, ok := slogLevelOf(p.logLevel); ok {
			step = append(step, "--log-level", lv)
		}
		return [][]string{step}, nil
	}
	var steps [][]string
	if _, ok := a["configure"]; ok {
		steps = append(steps, []string{"deploy", "-c", file})
	}
	if v, ok := a["publish"]; ok {
		steps = append(steps, []string{"publish", "-c", file, v[0], v[1]})
	}
	if v, ok := a["track"]; ok {
		steps = append(steps, []string{"track", "-c", file, v[0], v[1], "--json"}) // the original printed JSON
	}
	if len(steps) == 0 { // -v, or no option: the original validated only
		steps = append(steps, []string{"validate", "-c", file})
	}
	return steps, nil
}

// slogLevelOf maps the original's --log-level (DEBUG, INFO, WARNING, ERROR,
// CRITICAL) to the server's; the original fell back to INFO on others.
func slogLevelOf(level string) (string, bool) {
	switch strings.ToUpper(level) {
	case "DEBUG":
		return "debug", true
	case "WARNING":
		return "warn", true
	case "ERROR", "CRITICAL":
		return "error", true
	}
	return "", false
}

// run notes the new form on stderr and runs each new command line until
// one fails.
func (o *original) run(stdin io.Reader, stdout, stderr io.Writer) int {
	if o.err != nil {
		fmt.Fprintf(stderr, "xflow: %v\n", o.err)
		fmt.Fprintln(stderr, "Run 'xflow --help' for usage.")
		return 2
	}
	var forms []string
	for _, s := range o.steps {
		forms = append(forms, shellJoin(append([]string{"xflow"}, s...)))
	}
	fmt.Fprintf(stderr, "xflow: note: this is the original xFlow command line; its new form is: %s\n", strings.Join(forms, " && "))
	for _, s := range o.steps {
		if code := run(s, stdin, stdout, stderr); code != 0 {
			return code
		}
	}
	return 0
}

var shellSafeRe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellJoin quotes words for a POSIX shell where they need it.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if shellSafeRe.MatchString(w) {
			out[i] = w
		} else {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
