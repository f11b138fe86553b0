package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Handler resolution rules, as Lambda.HandlerFrom records them.
const (
	// HandlerAsWritten: the handler has a dot (or none is needed), and is
	// used as written.
	HandlerAsWritten = ""
	// HandlerFromFile: a bare handler of a single-file source names a
	// function of that file's module: `read` with lambda_reader.py is
	// lambda_reader.read.
	HandlerFromFile = "file"
	// HandlerFromName: a bare handler of a folder, package or S3 source
	// names a function of the module named after the lambda, as the
	// original xFlow set it: `parse` of lambda `lambda_parser` is
	// lambda_parser.parse.
	HandlerFromName = "name"
)

// moduleFiles are the files Lambda's runtimes load a handler module from,
// for a module path such as "lambda_parser" or "src/app".
func moduleFiles(family, module string) []string {
	switch family {
	case "python":
		p := filepath.FromSlash(strings.ReplaceAll(module, ".", "/"))
		return []string{p + ".py", filepath.Join(p, "__init__.py")}
	case "nodejs":
		p := filepath.FromSlash(module)
		return []string{p + ".js", p + ".mjs", p + ".cjs"}
	case "ruby":
		return []string{filepath.FromSlash(module) + ".rb"}
	}
	return nil
}

// maxScannedSource bounds the single-file sources whose functions are
// looked for: a larger file is generated or bundled code, which the rules
// below cannot read, and is not checked.
const maxScannedSource = 4 << 20

// sourceDefines reports whether the module of a single-file Python or
// Node.js source binds fn at its top level, and the names it binds there,
// for "did you mean". known is false when the file cannot be read or binds
// names in ways these rules do not follow (`from m import *`,
// `module.exports = require(…)`, `export * from …`, module __getattr__…):
// then nothing is said about it.
func sourceDefines(family, path, fn string) (found bool, names []string, known bool) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() > maxScannedSource {
		return false, nil, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, nil, false
	}
	src := string(b)
	switch family {
	case "python":
		names, known = pythonTopLevel(src)
	case "nodejs":
		names, known = nodeExports(src)
	default:
		return false, nil, false
	}
	return slices.Contains(names, fn), names, known
}

var (
	pyDefRe    = regexp.MustCompile(`^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)`)
	pyAssignRe = regexp.MustCompile(`^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::[^=]*)?=[^=]`)
	pyImportRe = regexp.MustCompile(`^import\s+(.+)$`)
	pyFromRe   = regexp.MustCompile(`^from\s+\S+\s+import\s+(.+)$`)
	pyGlobalRe = regexp.MustCompile(`^\s*global\s+(.+)$`)
)

// pythonTopLevel returns the names a Python module binds outside any
// def or class: functions, classes, assignments and imports, including
// those under a top-level if/try/with. It follows indentation, not the
// full grammar; what it cannot follow makes known false.
func pythonTopLevel(src string) (names []string, known bool) {
	for _, opaque := range []string{"import *", "globals()", "sys.modules[__name__]", "def __getattr__", "exec("} {
		if strings.Contains(src, opaque) {
			return nil, false
		}
	}
	type scope struct {
		indent int
		body   bool // the block of a def or class: names bound in it are not the module's
	}
	var stack []scope
	lines := strings.Split(src, "\n")
	inString := "" // the quote of a triple-quoted string that spans lines
	for i := 0; i < len(lines); i++ {
		raw := strings.TrimRight(lines[i], "\r")
		if inString != "" {
			if strings.Count(raw, inString)%2 == 1 {
				inString = ""
			}
			continue
		}
		text := strings.TrimLeft(raw, " \t")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		indent := len(raw) - len(text)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(text, q)%2 == 1 {
				inString = q
			}
		}
		// A statement continued inside brackets: join it, for a
		// parenthesized import list.
		for depth := bracketDepth(text); depth > 0 && i+1 < len(lines); depth = bracketDepth(text) {
			i++
			text += " " + strings.TrimSpace(lines[i])
		}
		inDef := slices.ContainsFunc(stack, func(s scope) bool { return s.body })
		if m := pyGlobalRe.FindStringSubmatch(text); m != nil {
			names = append(names, splitNames(m[1])...) // a function binds it in the module
		}
		if !inDef {
			switch {
			case pyDefRe.MatchString(text):
				names = append(names, pyDefRe.FindStringSubmatch(text)[1])
			case pyFromRe.MatchString(text):
				names = append(names, importedNames(pyFromRe.FindStringSubmatch(text)[1])...)
			case pyImportRe.MatchString(text):
				for _, part := range strings.Split(pyImportRe.FindStringSubmatch(text)[1], ",") {
					part = strings.TrimSpace(part)
					if _, as, ok := strings.Cut(part, " as "); ok {
						names = append(names, strings.TrimSpace(as))
					} else if first, _, _ := strings.Cut(part, "."); first != "" {
						names = append(names, first)
					}
				}
			case pyAssignRe.MatchString(text):
				names = append(names, splitNames(pyAssignRe.FindStringSubmatch(text)[1])...)
			}
		}
		if strings.HasSuffix(strings.TrimSpace(stripComment(text)), ":") {
			stack = append(stack, scope{indent: indent, body: pyDefRe.MatchString(text)})
		}
	}
	return names, true
}

// importedNames reads the names `from m import a, b as c` binds.
func importedNames(list string) []string {
	list = strings.Trim(strings.TrimSpace(stripComment(list)), "()")
	var out []string
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if _, as, ok := strings.Cut(part, " as "); ok {
			part = strings.TrimSpace(as)
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

func splitNames(list string) []string {
	var out []string
	for _, n := range strings.Split(stripComment(list), ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func stripComment(s string) string {
	if i := strings.Index(s, "#"); i >= 0 {
		return s[:i]
	}
	return s
}

// bracketDepth is how many brackets a line leaves open, outside its
// one-line strings and its comment.
func bracketDepth(s string) int {
	d := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return d
		case c == '(' || c == '[' || c == '{':
			d++
		case c == ')' || c == ']' || c == '}':
			d--
		}
	}
	return d
}

var (
	nodeExportRe      = regexp.MustCompile(`(?:^|[^\w$.])(?:module\.)?exports\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*["']([^"']+)["']\s*\])\s*=[^=]`)
	nodeModuleObjRe   = regexp.MustCompile(`(?:^|[^\w$.])module\.exports\s*=\s*([^=\s])`)
	esmDeclRe         = regexp.MustCompile(`(?m)^\s*export\s+(?:async\s+)?(?:function\s*\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)`)
	esmListRe         = regexp.MustCompile(`(?m)^\s*export\s*\{([^}]*)\}`)
	esmDefaultRe      = regexp.MustCompile(`(?m)^\s*export\s+default\b`)
	esmDestructureRe  = regexp.MustCompile(`(?m)^\s*export\s+(?:const|let|var)\s*[{\[]`)
	nodeOpaqueExports = []string{"export *", "Object.assign(module.exports", "Object.assign(exports", "Object.defineProperty(exports", "Object.defineProperty(module.exports", "Object.defineProperties("}
)

// nodeExports returns the names a CommonJS or ES module exports:
// exports.X / module.exports.X assignments, the keys of an object literal
// assigned to module.exports, and export declarations and lists. An export
// these rules cannot read (module.exports = require(…), export * from …)
// makes known false.
func nodeExports(src string) (names []string, known bool) {
	for _, o := range nodeOpaqueExports {
		if strings.Contains(src, o) {
			return nil, false
		}
	}
	if esmDestructureRe.MatchString(src) {
		return nil, false
	}
	for _, m := range nodeExportRe.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1]+m[2])
	}
	for _, m := range nodeModuleObjRe.FindAllStringSubmatchIndex(src, -1) {
		if src[m[2]] != '{' {
			return nil, false // module.exports = something these rules cannot see into
		}
		keys, ok := objectKeys(src[m[2]:])
		if !ok {
			return nil, false
		}
		names = append(names, keys...)
	}
	for _, m := range esmDeclRe.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	for _, m := range esmListRe.FindAllStringSubmatch(src, -1) {
		for _, part := range strings.Split(m[1], ",") {
			part = strings.TrimSpace(part)
			if _, as, ok := strings.Cut(part, " as "); ok {
				part = strings.TrimSpace(as)
			}
			if part != "" {
				names = append(names, part)
			}
		}
	}
	if esmDefaultRe.MatchString(src) {
		names = append(names, "default")
	}
	return names, true
}

// objectKeys returns the keys of the object literal src starts with:
// `{ a, b: 1, c() {}, async d() {}, "e": 2 }`. A computed key or a spread
// makes ok false.
func objectKeys(src string) (keys []string, ok bool) {
	depth := 0
	var entry strings.Builder
	flush := func() bool {
		e := strings.TrimSpace(entry.String())
		entry.Reset()
		if e == "" {
			return true
		}
		if strings.HasPrefix(e, "...") || strings.HasPrefix(e, "[") {
			return false
		}
		for _, prefix := range []string{"async ", "get ", "set ", "*"} {
			e = strings.TrimSpace(strings.TrimPrefix(e, prefix))
		}
		key := e
		if i := strings.IndexAny(e, ":(="); i >= 0 {
			key = strings.TrimSpace(e[:i])
		}
		key = strings.Trim(key, `"'`)
		if key != "" {
			keys = append(keys, key)
		}
		return true
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if depth == 1 {
				entry.WriteString(src[i:min(j+1, len(src))])
			}
			i = j
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, false
			}
			i += end + 3
		case c == '{' || c == '(' || c == '[':
			depth++
			if depth > 1 {
				entry.WriteByte(c)
			}
		case c == '}' || c == ')' || c == ']':
			depth--
			if depth == 0 {
				return keys, flush()
			}
			entry.WriteByte(c)
		case c == ',' && depth == 1:
			if !flush() {
				return nil, false
			}
		default:
			if depth >= 1 {
				entry.WriteByte(c)
			}
		}
	}
	return nil, false
}
