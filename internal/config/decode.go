package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into Go values by reflection. It is
// strict about keys and types, records the position of every value under
// its path, and collects every error instead of stopping at the first.
type decoder struct {
	file     string
	pos      map[string]Pos
	errs     Errors
	warnings Errors
}

// nodeDecoder is implemented by types with more than one YAML shape.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

func (d *decoder) errorf(n *yaml.Node, path, hint, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName says what a node is in the words of an error message.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the text %q", n.Value)
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = posOf(n)
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	if isNull(n) {
		return // an empty value leaves the default, as in the original
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "write a single value", "expected text, found %s", kindName(n))
			return
		}
		v.SetString(d.printable(n, path))
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.errorf(n, path, "write a whole number, such as 10", "expected a whole number, found %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 32)
		if err != nil {
			d.errorf(n, path, "write a whole number, such as 10", "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(n, path, "write true or false", "expected true or false, found %s", kindName(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	default:
		d.errorf(n, path, "", "internal: cannot decode into %s", v.Type())
	}
}

// field is a YAML key of a struct, found through inline embedded structs.
type field struct {
	key   string
	index []int
}

func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for _, sub := range structFields(f.Type) {
				out = append(out, field{key: sub.key, index: append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, field{key: name, index: []int{i}})
	}
	return out
}

// Keys returns the YAML keys a config type accepts, for messages and the
// schema.
func keysOf(t reflect.Type) []string {
	var keys []string
	for _, f := range structFields(t) {
		keys = append(keys, f.key)
	}
	return keys
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "write key: value pairs", "expected a mapping, found %s", kindName(n))
		return
	}
	fields := structFields(v.Type())
	byKey := make(map[string]field, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			d.errorf(k, path, "repeat the keys instead", "YAML merge keys (<<) are not supported")
			continue
		}
		f, ok := byKey[k.Value]
		if !ok {
			d.errorf(k, join(path, k.Value), suggest(k.Value, keysOf(v.Type()), "valid keys"), "unknown key %q", k.Value)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, join(path, k.Value), fmt.Sprintf("it is already set on line %d; keep one", prev.Line), "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = k
		d.decode(val, v.FieldByIndex(f.index), join(path, k.Value))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode {
			d.errorf(n, path, fmt.Sprintf("write a list: [%s]", n.Value), "expected a list, found %s", kindName(n))
		} else {
			d.errorf(n, path, "write a list, one item per line starting with '- '", "expected a list, found %s", kindName(n))
		}
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for _, item := range n.Content {
		if isNull(item) {
			// The original xFlow accepted an empty "-" item (its README's
			// example has one); keep accepting it, but say so.
			d.warnings = append(d.warnings, &Error{File: d.file, Pos: posOf(item), Path: path, Msg: "empty list item ignored"})
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(item, elem, fmt.Sprintf("%s[%d]", path, out.Len()))
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "write NAME: value pairs", "expected a mapping, found %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, p, "keep one", "duplicate key %q", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.pos[p] = posOf(val)
		if isNull(val) {
			// An environment variable set to nothing is the empty string.
		} else {
			d.decode(val, elem, p)
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

// printable returns a text value, refusing a control character other
// than a tab or a line break. YAML refuses them written as they are, but
// not written as escapes in double quotes ("\0", "\x1b"); xflow refuses
// them both ways: a NUL cuts an environment variable short, and none
// belongs in a name or a description. The value is returned without them,
// so that the rest of the checks say nothing more about it.
func (d *decoder) printable(n *yaml.Node, path string) string {
	for i, r := range []rune(n.Value) {
		if isControl(r) {
			d.errorf(n, path, "remove it; write \\t or \\n for a tab or a line break", "the text holds the control character U+%04X at character %d", r, i+1)
			return strings.Map(func(r rune) rune {
				if isControl(r) {
					return -1
				}
				return r
			}, n.Value)
		}
	}
	return n.Value
}

// isControl is what YAML does not allow unescaped: C0 and C1 controls
// but tab, line feed, carriage return and next line, and DEL.
func isControl(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	}
	return false
}

// decodeNode lets a subscriber be written as a lambda name or as a mapping.
func (s *Subscriber) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		s.Lambda = d.printable(n, join(path, "lambda"))
		d.pos[join(path, "lambda")] = posOf(n)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "write a lambda name, or a mapping with lambda: and settings", "expected a lambda name, found %s", kindName(n))
		return
	}
	d.decodeStruct(n, reflect.ValueOf(s).Elem(), path)
	if s.Lambda == "" {
		d.errorf(n, join(path, "lambda"), "add lambda: NAME", "a subscriber mapping needs the lambda's name")
	}
}

// decodeNode reads a filter pattern, which must be text: the space-delimited
// and JSON patterns ([w1, w2], { $.level = "ERROR" }) look like YAML lists
// and mappings unless quoted.
func (p *LogPattern) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch {
	case isNull(n):
	case n.Kind != yaml.ScalarNode:
		d.errorf(n, path, `quote the pattern, such as filter_pattern: '{ $.level = "ERROR" }'`, "expected a filter pattern, found %s: unquoted, YAML reads [ ] and { } as a list and a mapping", kindName(n))
	default:
		*p = LogPattern(d.printable(n, path))
	}
}

// decodeNode reads whole seconds or a duration such as 90s, 15m, 6h, 7d.
func (dur *Duration) decodeNode(d *decoder, n *yaml.Node, path string) {
	const hint = "write seconds, or a duration such as 90s, 15m, 6h or 7d"
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, hint, "expected a duration, found %s", kindName(n))
		return
	}
	s, err := ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, hint, "%v", err)
		return
	}
	*dur = s
}

// ParseDuration reads whole seconds ("3600") or a duration ("1h", "7d").
func ParseDuration(s string) (Duration, error) {
	if i, err := strconv.Atoi(s); err == nil {
		return Duration(i), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if i, err := strconv.Atoi(days); err == nil {
			return Duration(i * 86400), nil
		}
	}
	td, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if td%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return Duration(td / time.Second), nil
}

// String renders the duration in the largest exact unit.
func (dur Duration) String() string {
	switch {
	case dur != 0 && dur%86400 == 0:
		return fmt.Sprintf("%dd", dur/86400)
	case dur != 0 && dur%3600 == 0:
		return fmt.Sprintf("%dh", dur/3600)
	case dur != 0 && dur%60 == 0:
		return fmt.Sprintf("%dm", dur/60)
	}
	return fmt.Sprintf("%ds", int(dur))
}
