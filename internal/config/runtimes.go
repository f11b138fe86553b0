package config

import (
	"sort"
	"strings"
)

// Runtime status as of the table below.
const (
	runtimeSupported  = iota
	runtimeDeprecated // AWS still deploys it for now; warn
	runtimeRetired    // AWS refuses to create or update functions with it
)

type runtimeInfo struct {
	status int
	// replacement is what to write instead of a deprecated or retired one.
	replacement string
}

// runtimes is AWS Lambda's runtime table as of November 2026
// (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). Runtimes
// whose "block function update" date has passed are retired; those past
// their deprecation date but still deployable are deprecated.
var runtimes = map[string]runtimeInfo{
	"python3.14":      {runtimeSupported, ""},
	"python3.13":      {runtimeSupported, ""},
	"python3.12":      {runtimeSupported, ""},
	"python3.11":      {runtimeDeprecated, "python3.13"},
	"python3.10":      {runtimeDeprecated, "python3.13"},
	"python3.9":       {runtimeRetired, "python3.13"},
	"python3.8":       {runtimeRetired, "python3.13"},
	"python3.7":       {runtimeRetired, "python3.13"},
	"python3.6":       {runtimeRetired, "python3.13"},
	"python2.7":       {runtimeRetired, "python3.13"},
	"nodejs24.x":      {runtimeSupported, ""},
	"nodejs22.x":      {runtimeSupported, ""},
	"nodejs20.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs18.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs16.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs14.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs12.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs10.x":      {runtimeRetired, "nodejs22.x"},
	"nodejs8.10":      {runtimeRetired, "nodejs22.x"},
	"nodejs6.10":      {runtimeRetired, "nodejs22.x"},
	"nodejs4.3":       {runtimeRetired, "nodejs22.x"},
	"nodejs4.3-edge":  {runtimeRetired, "nodejs22.x"},
	"nodejs":          {runtimeRetired, "nodejs22.x"},
	"java25":          {runtimeSupported, ""},
	"java21":          {runtimeSupported, ""},
	"java17":          {runtimeDeprecated, "java21"},
	"java11":          {runtimeDeprecated, "java21"},
	"java8.al2":       {runtimeDeprecated, "java21"},
	"java8":           {runtimeRetired, "java21"},
	"dotnet10":        {runtimeSupported, ""},
	"dotnet8":         {runtimeDeprecated, "dotnet10"},
	"dotnet7":         {runtimeRetired, "dotnet10"},
	"dotnet6":         {runtimeRetired, "dotnet10"},
	"dotnetcore3.1":   {runtimeRetired, "dotnet10"},
	"dotnetcore2.1":   {runtimeRetired, "dotnet10"},
	"dotnetcore2.0":   {runtimeRetired, "dotnet10"},
	"dotnetcore1.0":   {runtimeRetired, "dotnet10"},
	"ruby3.4":         {runtimeSupported, ""},
	"ruby3.3":         {runtimeSupported, ""},
	"ruby3.2":         {runtimeRetired, "ruby3.4"},
	"ruby2.7":         {runtimeRetired, "ruby3.4"},
	"ruby2.5":         {runtimeRetired, "ruby3.4"},
	"provided.al2023": {runtimeSupported, ""},
	"provided.al2":    {runtimeDeprecated, "provided.al2023"},
	"provided":        {runtimeRetired, "provided.al2023"},
	"go1.x":           {runtimeRetired, "provided.al2023 with a Go binary named bootstrap"},
}

// SupportedRuntimes lists the runtimes AWS Lambda accepts without warning.
func SupportedRuntimes() []string {
	var out []string
	for name, info := range runtimes {
		if info.status == runtimeSupported {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// RuntimeFamily is the language of a runtime: python, nodejs, java,
// dotnet, ruby or provided.
func RuntimeFamily(runtime string) string {
	for _, f := range []string{"python", "nodejs", "java", "dotnet", "ruby", "provided", "go"} {
		if strings.HasPrefix(runtime, f) {
			return f
		}
	}
	return ""
}

// sourceExtensions are the file extensions a single-file source may have
// for a runtime family; families not listed need a folder or a package.
var sourceExtensions = map[string][]string{
	"python": {".py"},
	"nodejs": {".js", ".mjs", ".cjs"},
	"ruby":   {".rb"},
}
