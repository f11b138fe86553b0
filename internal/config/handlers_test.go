package config

import (
	"slices"
	"testing"
)

// The top-level names of a Python module: what Lambda's runtime can
// import as a handler, and nothing bound only inside a function.
func TestPythonTopLevel(t *testing.T) {
	tests := []struct {
		name, src   string
		has, hasNot []string
		opaque      bool
	}{
		{name: "def and async def", src: "import json\n\ndef read(event, context):\n    def inner():\n        pass\n    return 1\n\nasync def aread(e, c):\n    pass\n",
			has: []string{"read", "aread", "json"}, hasNot: []string{"inner"}},
		{name: "decorated", src: "@wrap\ndef handle(e, c):\n    x = 1\n", has: []string{"handle"}, hasNot: []string{"x"}},
		{name: "assignment and class", src: "handler = make()\nA, B = 1, 2\nclass Worker:\n    run = 1\ncount: int = 0\n",
			has: []string{"handler", "A", "B", "Worker", "count"}, hasNot: []string{"run"}},
		{name: "imports", src: "from app import (\n    handle,\n    other as alias,\n)\nimport os.path\nimport numpy as np\n",
			has: []string{"handle", "alias", "os", "np"}, hasNot: []string{"other"}},
		{name: "under try and if", src: "try:\n    from fast import handle\nexcept ImportError:\n    def handle(e, c):\n        pass\nif True:\n    go = 1\n",
			has: []string{"handle", "go"}},
		{name: "docstring and comments", src: "\"\"\"\ndef fake():\n\"\"\"\n# def commented(): pass\ndef real(e, c):\n    s = \"(\"\n    return s\ndef after(e, c): pass\n",
			has: []string{"real", "after"}, hasNot: []string{"commented", "s"}},
		{name: "global in a function", src: "def setup():\n    global handler\n    handler = 1\n", has: []string{"setup", "handler"}},
		{name: "star import", src: "from app import *\n", opaque: true},
		{name: "module getattr", src: "def __getattr__(name):\n    return 1\n", opaque: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := pythonTopLevel(tt.src)
			if known == tt.opaque {
				t.Fatalf("known = %v, want %v (names %q)", known, !tt.opaque, got)
			}
			for _, n := range tt.has {
				if !slices.Contains(got, n) {
					t.Errorf("names %q lack %q", got, n)
				}
			}
			for _, n := range tt.hasNot {
				if slices.Contains(got, n) {
					t.Errorf("names %q hold %q, which is not bound at the top level", got, n)
				}
			}
		})
	}
}

// The exports of a CommonJS or ES module, as Lambda's Node.js runtime
// looks up a handler.
func TestNodeExports(t *testing.T) {
	tests := []struct {
		name, src   string
		has, hasNot []string
		opaque      bool
	}{
		{name: "exports.x", src: "exports.handler = async (event) => {};\nmodule.exports.other = fn;\nexports['quoted'] = 1;\nconst local = 1;\n",
			has: []string{"handler", "other", "quoted"}, hasNot: []string{"local"}},
		{name: "module.exports object", src: "function a() {}\nmodule.exports = {\n  a,\n  b: function (x) { return {y: 1}; },\n  async c(e) {},\n  'd': 1, // note\n};\n",
			has: []string{"a", "b", "c", "d"}, hasNot: []string{"y", "x"}},
		{name: "esm declarations", src: "export async function handler(e) {}\nexport const two = 2;\nexport class K {}\nexport function* gen() {}\nexport default handler;\n",
			has: []string{"handler", "two", "K", "gen", "default"}},
		{name: "esm list", src: "const a = 1, b = 2;\nexport { a, b as handler };\n", has: []string{"a", "handler"}, hasNot: []string{"b"}},
		{name: "module.exports = require", src: "module.exports = require('./impl');\n", opaque: true},
		{name: "export star", src: "export * from './impl.mjs';\n", opaque: true},
		{name: "module.exports spread", src: "module.exports = { ...impl };\n", opaque: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := nodeExports(tt.src)
			if known == tt.opaque {
				t.Fatalf("known = %v, want %v (names %q)", known, !tt.opaque, got)
			}
			for _, n := range tt.has {
				if !slices.Contains(got, n) {
					t.Errorf("names %q lack %q", got, n)
				}
			}
			for _, n := range tt.hasNot {
				if slices.Contains(got, n) {
					t.Errorf("names %q hold %q, which is not exported", got, n)
				}
			}
		})
	}
}
