package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/names"
)

var (
	prefixRe   = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
	regionRe   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	accountRe  = regexp.MustCompile(`^\d{12}$`)
	subnetRe   = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgRe       = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	roleRe     = regexp.MustCompile(`^[\w+=,.@-]+$`)
	roleARNRe  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	failARNRe  = regexp.MustCompile(`^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$`)
	s3BucketRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$`)
)

// reservedEnv are environment variables Lambda sets itself and refuses in
// a function's configuration, plus the ones xflow sets.
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
	names.EnvPrefix, names.EnvEmits,
}

type validator struct {
	c    *Config
	errs Errors
	// env maps a path to the environment variable its value came from.
	env map[string]string
}

func (v *validator) errorf(path, hint, format string, args ...any) {
	v.errs = append(v.errs, v.at(path, hint, format, args...))
}

func (v *validator) warnf(path, hint, format string, args ...any) {
	v.c.Warnings = append(v.c.Warnings, v.at(path, hint, format, args...))
}

func (v *validator) at(path, hint, format string, args ...any) *Error {
	e := &Error{File: v.c.File, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if src, ok := v.env[path]; ok {
		e.Source = src
	} else {
		e.Pos = v.c.Pos(path)
	}
	return e
}

// applyEnv applies the original xFlow's environment overrides, which win
// over the file.
func (v *validator) applyEnv(getenv func(string) string) {
	if r := getenv(EnvRegion); r != "" {
		v.c.AWS.Region = r
		v.env["aws.region"] = "$" + EnvRegion
	}
	if r := getenv(EnvRoleName); r != "" {
		v.c.AWS.LambdaExecutionRoleName = r
		v.env["aws.lambda_execution_role_name"] = "$" + EnvRoleName
	}
	if t := getenv(EnvTimeoutTime); t != "" {
		v.env["general.lambda_timeout_time"] = "$" + EnvTimeoutTime
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil {
			v.errorf("general.lambda_timeout_time", "set it to whole seconds, such as 30", "%q is not a whole number of seconds", t)
			return
		}
		v.c.General.LambdaTimeoutTime = n
	}
}

func (v *validator) validate() {
	c := v.c
	if len(c.Lambdas) == 0 && len(c.Subscriptions) == 0 {
		v.errorf("", "add a lambdas: and a subscriptions: section; see examples/wordcount/xflow.yaml", "the config defines no lambdas and no subscriptions")
	}
	v.openSections()
	scheme := v.general()
	v.aws()
	events := v.subscriptions(scheme)
	v.lambdas(scheme, events)
	v.subscribers()
	v.workflows(scheme, events)
	v.unused()
	v.monitoring()
	v.logging(scheme)
}

func (v *validator) general() names.Scheme {
	g := v.c.General
	v.setRange("general.lambda_timeout_time", g.LambdaTimeoutTime, spec.MinTimeoutSeconds, spec.MaxTimeoutSeconds, "seconds")
	v.setRange("general.lambda_memory", g.LambdaMemory, spec.MinMemoryMB, spec.MaxMemoryMB, "MB")
	v.architecture("general.architecture", g.Architecture)
	v.logRetention("general.log_retention_days", g.LogRetentionDays)
	v.logRetention("general.track_retention_days", g.TrackRetention)
	v.tracing("general.tracing", g.Tracing)
	switch {
	case !prefixRe.MatchString(g.NamePrefix):
		v.errorf("general.name_prefix", "use letters, digits, '-' and '_', such as dev_", "%q may only contain letters, digits, '-' and '_'", g.NamePrefix)
		return names.Scheme{}
	case len(g.NamePrefix) > names.MaxPrefix:
		v.errorf("general.name_prefix", fmt.Sprintf("shorten it: every function name must stay within %d characters", names.MaxFunctionName), "%q is longer than %d characters", g.NamePrefix, names.MaxPrefix)
		return names.Scheme{}
	}
	if g.StackName != "" {
		if err := names.CheckStackName(g.StackName); err != nil {
			v.errorf("general.stack_name", "use letters, digits and '-', starting with a letter, such as wordcount-prod", "%v", err)
		}
	}
	return names.New(g.NamePrefix)
}

func (v *validator) aws() {
	a := v.c.AWS
	if a.Region != "" && !regionRe.MatchString(a.Region) {
		v.errorf("aws.region", "write a region code such as eu-west-1", "%q is not an AWS region code", a.Region)
	}
	if a.Account != "" && !accountRe.MatchString(a.Account) {
		v.errorf("aws.account", "write the 12-digit account id in quotes, such as \"123456789012\"", "%q is not a 12-digit account id", a.Account)
	}
	for i, s := range a.SubnetIDs {
		if !subnetRe.MatchString(s) {
			v.errorf(fmt.Sprintf("aws.subnet_ids[%d]", i), "write a subnet id such as subnet-0123456789abcdef0", "%q is not a subnet id", s)
		}
	}
	for i, s := range a.SecurityGroupIDs {
		if !sgRe.MatchString(s) {
			v.errorf(fmt.Sprintf("aws.security_group_ids[%d]", i), "write a security group id such as sg-0123456789abcdef0", "%q is not a security group id", s)
		}
	}
	switch {
	case len(a.SubnetIDs) > 0 && len(a.SecurityGroupIDs) == 0:
		v.errorf("aws.subnet_ids", "add security_group_ids: functions in a VPC need both", "subnets are set without security groups")
	case len(a.SubnetIDs) == 0 && len(a.SecurityGroupIDs) > 0:
		v.errorf("aws.security_group_ids", "add subnet_ids: functions in a VPC need both", "security groups are set without subnets")
	}
	if r := a.LambdaExecutionRoleName; r != "" {
		if !roleARNRe.MatchString(r) && (len(r) > spec.MaxRoleName || !roleRe.MatchString(r)) {
			v.errorf("aws.lambda_execution_role_name", "write the name of an existing IAM role, or leave it empty to get one least-privilege role per function", "%q is not an IAM role name", r)
		}
	}
}

// subscriptions validates the events and returns their names.
func (v *validator) subscriptions(scheme names.Scheme) []string {
	var events []string
	seen := map[string]int{}
	for i, s := range v.c.Subscriptions {
		p := fmt.Sprintf("subscriptions[%d]", i)
		if s.Event == "" {
			v.errorf(p+".event", "add event: NAME", "the subscription has no event")
			continue
		}
		if j, dup := seen[s.Event]; dup {
			v.errorf(p+".event", fmt.Sprintf("merge its subscribers into subscriptions[%d] (line %d)", j, v.c.Pos(fmt.Sprintf("subscriptions[%d]", j)).Line), "event %q is defined twice", s.Event)
			continue
		}
		seen[s.Event] = i
		events = append(events, s.Event)
		if err := names.CheckStream(scheme.Stream(s.Event)); err != nil {
			v.errorf(p+".event", "event names become Kinesis stream names: use letters, digits, '-', '_' and '.'", "stream name %v", err)
		}
		v.setRange(p+".shards", s.Shards, 1, spec.MaxShards, "shards")
		v.setRange(p+".retention_hours", s.RetentionHours, spec.MinRetentionHours, spec.MaxRetentionHours, "hours")
		v.mapping(p, s.Mapping)
	}
	// Two events whose XFLOW_STREAM_ variables collide would hide a stream.
	envs := map[string]string{}
	for i, e := range events {
		k := names.StreamEnvVar(e)
		if other, ok := envs[k]; ok {
			v.errorf(fmt.Sprintf("subscriptions[%d].event", i), "rename one of them", "events %q and %q both map to the environment variable %s", other, e, k)
		}
		envs[k] = e
	}
	return events
}

func (v *validator) mapping(p string, m Mapping) {
	if m.BatchSize != nil {
		v.intRange(p+".batch_size", *m.BatchSize, spec.MinBatchSize, spec.MaxBatchSize, "records")
	}
	if m.BatchWindow != nil {
		v.intRange(p+".batch_window", int(*m.BatchWindow), 0, spec.MaxBatchWindow, "seconds")
	}
	if m.StartingPosition != "" && m.StartingPosition != spec.TrimHorizon && m.StartingPosition != spec.Latest {
		v.errorf(p+".starting_position", "write TRIM_HORIZON (every record still in the stream) or LATEST (only new records)", "%q is not a starting position", m.StartingPosition)
	}
	if m.RetryAttempts != nil {
		if *m.RetryAttempts == -1 {
			v.errorf(p+".retry_attempts", fmt.Sprintf("write a number from 0 to %d; records that keep failing go to the on_failure destination", spec.MaxRetryAttempts), "-1 retries a failing record until it expires, blocking its shard for the stream's whole retention")
		} else {
			v.intRange(p+".retry_attempts", *m.RetryAttempts, 0, spec.MaxRetryAttempts, "attempts")
		}
	}
	if m.MaxRecordAge != nil {
		if int(*m.MaxRecordAge) == -1 {
			v.errorf(p+".max_record_age", "write a duration from 60s to 7d", "-1 keeps retrying a record until it expires, blocking its shard")
		} else {
			v.intRange(p+".max_record_age", int(*m.MaxRecordAge), spec.MinRecordAge, spec.MaxRecordAge, "seconds")
		}
	}
	if m.ParallelizationFactor != nil {
		v.intRange(p+".parallelization_factor", *m.ParallelizationFactor, spec.MinParallelism, spec.MaxParallelism, "batches per shard")
	}
	if f := m.OnFailure; f != "" && f != OnFailureQueue && f != OnFailureBucket && f != OnFailureNone && !failARNRe.MatchString(f) {
		fix := "write queue (an SQS queue made by xflow), bucket (an S3 bucket made by xflow, which keeps the records themselves), none, or the ARN of an SQS queue or SNS topic"
		if near := didyoumean.Closest(f, []string{OnFailureQueue, OnFailureBucket, OnFailureNone}); near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		v.errorf(p+".on_failure", fix, "%q is not a failure destination", f)
	}
}

func (v *validator) lambdas(scheme names.Scheme, events []string) {
	seen := map[string]int{}
	for i := range v.c.Lambdas {
		l := &v.c.Lambdas[i]
		p := fmt.Sprintf("lambdas[%d]", i)
		if l.Name == "" {
			v.errorf(p+".name", "add name: NAME", "the lambda has no name")
		} else if j, dup := seen[l.Name]; dup {
			v.errorf(p+".name", fmt.Sprintf("rename one of them; the other is lambdas[%d] on line %d", j, v.c.Pos(fmt.Sprintf("lambdas[%d].name", j)).Line), "lambda %q is defined twice", l.Name)
		} else {
			seen[l.Name] = i
			if err := names.CheckFunction(scheme.Function(l.Name)); err != nil {
				v.errorf(p+".name", fmt.Sprintf("function names are up to %d letters, digits, '-' and '_', prefix included", names.MaxFunctionName), "function name %v", err)
			}
		}
		if len(l.Description) > spec.MaxDescription {
			v.errorf(p+".description", "shorten it", "the description is %d characters long, more than Lambda's %d", len(l.Description), spec.MaxDescription)
		}
		family := v.runtime(p, l.Runtime)
		v.source(p, l, family)
		v.setRange(p+".memory", l.Memory, spec.MinMemoryMB, spec.MaxMemoryMB, "MB")
		v.setRange(p+".timeout", l.Timeout, spec.MinTimeoutSeconds, spec.MaxTimeoutSeconds, "seconds")
		v.architecture(p+".architecture", l.Architecture)
		v.tracing(p+".tracing", l.Tracing)
		v.logRetention(p+".log_retention_days", l.LogRetentionDays)
		v.environment(p, l)
		v.bundle(p, l, family)
		if l.Emits != nil {
			for j, e := range *l.Emits {
				if !slices.Contains(events, e) {
					v.errorf(fmt.Sprintf("%s.emits[%d]", p, j), eventHint(e, events), "event %q is not defined", e)
				}
			}
		}
	}
}

func eventHint(e string, events []string) string {
	if c := closest(e, events); c != "" {
		return fmt.Sprintf("did you mean %q? Otherwise add `- event: %s` under subscriptions", c, e)
	}
	return fmt.Sprintf("add `- event: %s` under subscriptions", e)
}

// runtime checks a runtime and returns its family.
func (v *validator) runtime(p, runtime string) string {
	if runtime == "" {
		v.errorf(p+".runtime", "add runtime:, such as python3.13", "the lambda has no runtime")
		return ""
	}
	info, ok := runtimes[runtime]
	switch {
	case !ok:
		v.errorf(p+".runtime", suggest(runtime, SupportedRuntimes(), "supported runtimes"), "%q is not an AWS Lambda runtime", runtime)
		return ""
	case info.status == runtimeRetired:
		v.errorf(p+".runtime", "use "+info.replacement, "%s is retired: AWS Lambda no longer creates or updates functions with it", runtime)
	case info.status == runtimeDeprecated:
		v.warnf(p+".runtime", "use "+info.replacement, "%s is deprecated: AWS Lambda will soon stop creating and updating functions with it", runtime)
	}
	return RuntimeFamily(runtime)
}

// source resolves and checks a lambda's source and handler.
func (v *validator) source(p string, l *Lambda, family string) {
	src := l.Source
	switch {
	case src == "":
		v.errorf(p+".source", "add source: with a file, a folder, a .zip, s3://bucket/key.zip or a git URL", "the lambda has no source")
		return
	case strings.HasPrefix(src, "s3://"):
		bucket, key, _ := strings.Cut(strings.TrimPrefix(src, "s3://"), "/")
		switch {
		case !s3BucketRe.MatchString(bucket) || key == "":
			v.errorf(p+".source", "write s3://bucket/path/to/package.zip", "%q is not an S3 location", src)
			return
		case !strings.HasSuffix(key, ".zip") && !strings.HasSuffix(key, ".jar"):
			v.errorf(p+".source", "upload a .zip of the code and name it here, or use a local path", "Lambda deploys S3 objects only as .zip or .jar packages, and %q is not one", key)
			return
		}
		l.Code = Code{Kind: CodeS3, Bucket: bucket, Key: key, Version: l.SourceVersion}
	default:
		g, isGit, err := parseGitSource(src)
		switch {
		case err != nil:
			v.errorf(p+".source", gitForms, "git source %q: %v", src, err)
			return
		case isGit:
			l.Code = Code{Kind: CodeGit, Git: &g}
		case strings.Contains(src, "://"):
			v.errorf(p+".source", "for a git repository "+gitForms+"; otherwise use a local path or s3://bucket/key.zip", "%q is neither a local path, an S3 object nor a git repository", src)
			return
		default:
			path := src
			if !filepath.IsAbs(path) {
				path = filepath.Join(v.c.Dir, path)
			}
			if !v.localCode(p, l, family, src, path) {
				return
			}
		}
		if l.SourceVersion != "" {
			v.errorf(p+".source_version", "remove it, or use an s3:// source", "source_version applies only to S3 sources")
		}
	}
	v.handler(p, l, family)
}

// localCode points a lambda's code at a local file, folder or package and
// checks it; src is the path as the user wrote it. It reports whether the
// path exists.
func (v *validator) localCode(p string, l *Lambda, family, src, path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		hint := "write a path relative to the config file's folder"
		if os.IsNotExist(err) {
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(m) > 0 {
				var bases []string
				for _, f := range m {
					bases = append(bases, filepath.Base(f))
				}
				if c := closest(filepath.Base(path), bases); c != "" {
					hint = fmt.Sprintf("did you mean %q?", filepath.Join(filepath.Dir(src), c))
				}
			}
			v.errorf(p+".source", hint, "%s does not exist", src)
		} else {
			v.errorf(p+".source", hint, "%v", err)
		}
		return false
	}
	switch ext := strings.ToLower(filepath.Ext(path)); {
	case fi.IsDir():
		l.Code = Code{Kind: CodeDir, Path: path, Git: l.Code.Git}
		v.links(p, src, path)
	case ext == ".zip" || ext == ".jar":
		l.Code = Code{Kind: CodeZip, Path: path, Git: l.Code.Git}
	default:
		l.Code = Code{Kind: CodeFile, Path: path, Git: l.Code.Git}
		if exts, ok := sourceExtensions[family]; ok && !slices.Contains(exts, ext) {
			v.errorf(p+".source", fmt.Sprintf("a %s function's file ends in %s", family, strings.Join(exts, " or ")), "%s does not look like %s code", src, family)
		}
		if family == "java" || family == "dotnet" {
			v.errorf(p+".source", "give the built .zip or .jar package, or its folder", "a %s function cannot be packaged from one source file", family)
		}
	}
	return true
}

// links refuses a source folder holding a link to outside it; src is the
// folder as the user wrote it.
func (v *validator) links(p, src, path string) {
	out, err := linksOutOf(path)
	if err != nil {
		v.errorf(p+".source", "", "read the source folder %s: %v", src, err)
		return
	}
	if len(out) == 0 {
		return
	}
	more := ""
	if len(out) > 1 {
		more = fmt.Sprintf(", and %d more link%s out of it", len(out)-1, plural(len(out)-1))
	}
	first := out[0]
	name := first.link
	if !strings.Contains(src, "://") { // a git source of a whole repository is shown as its URL
		name = filepath.ToSlash(filepath.Join(src, first.link))
	}
	v.errorf(p+".source", fmt.Sprintf("copy what it points to into %s, or remove the link", src),
		"%s is a link to %s, outside the source folder %s%s: packaging it would put a file of this machine into the function",
		name, first.target, src, more)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// SourceError is a problem with the source of lambdas[i], positioned on
// its source: line.
func (c *Config) SourceError(i int, hint, format string, args ...any) *Error {
	v := &validator{c: c}
	return v.at(fmt.Sprintf("lambdas[%d].source", i), hint, format, args...)
}

// UseCheckout points the code of lambdas[i], a git source, at path in the
// source's checkout and checks it and the handler as a local source's are
// checked; shown is how errors name the path. The handler is then resolved
// by the same rule as a local file's.
func (c *Config) UseCheckout(i int, path, shown string) Errors {
	v := &validator{c: c}
	l := &c.Lambdas[i]
	p := fmt.Sprintf("lambdas[%d]", i)
	family := RuntimeFamily(l.Runtime)
	if v.localCode(p, l, family, shown, path) {
		v.handler(p, l, family)
		l.Handler, l.HandlerFrom = ResolveHandler(*l)
	}
	return v.errs
}

func (v *validator) handler(p string, l *Lambda, family string) {
	h := l.Handler
	switch {
	case h == "" && family == "provided":
		return
	case h == "":
		v.errorf(p+".handler", "add handler:, such as the function's name", "the lambda has no handler")
		return
	case family != "python" && family != "nodejs" && family != "ruby":
		return
	case l.Code.Kind == CodeGit:
		return // checked once fetched, when the path is known to be a file or not
	}
	if !strings.Contains(h, ".") {
		switch l.Code.Kind {
		case CodeFile:
			v.handlerFunction(p, l, family, h)
		case CodeDir:
			// The original xFlow's rule: the module named after the
			// lambda. Say so when the folder has no such module, rather
			// than let every invocation fail to import it.
			if l.Name != "" && !hasModule(l.Code.Path, family, l.Name) {
				v.warnf(p+".handler", fmt.Sprintf("add %s to the folder, or write module.function naming a file of it, such as main.%s", moduleFiles(family, l.Name)[0], h),
					"handler %q means %s.%s (a bare handler of a folder names a function of the module named after the lambda), and %s has no module %s", h, l.Name, h, filepath.Base(l.Code.Path), l.Name)
			}
		}
		return
	}
	if l.Code.Kind == CodeFile {
		base := filepath.Base(l.Code.Path)
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		mod := h[:strings.LastIndex(h, ".")]
		fn := h[strings.LastIndex(h, ".")+1:]
		if mod != stem {
			v.errorf(p+".handler", fmt.Sprintf("write %s.%s, or just %s", stem, fn, fn), "handler module %q is not the source file %s, the only file packaged", mod, base)
			return
		}
		v.handlerFunction(p, l, family, fn)
	}
}

// handlerFunction checks that the single-file source of a Python or
// Node.js lambda defines the handler's function at its top level.
func (v *validator) handlerFunction(p string, l *Lambda, family, fn string) {
	if !slices.Contains(sourceExtensions[family], strings.ToLower(filepath.Ext(l.Code.Path))) {
		return // not its language: said on its source
	}
	found, defined, known := sourceDefines(family, l.Code.Path, fn)
	if found || !known {
		return
	}
	slices.Sort(defined)
	defined = slices.Compact(defined)
	base := filepath.Base(l.Code.Path)
	hint := suggest(fn, defined, "it defines")
	if family == "python" {
		if hint == "" {
			hint = fmt.Sprintf("define def %s(event, context): at the top level of %s", fn, base)
		}
		v.errorf(p+".handler", hint, "%s has no top-level function %q", base, fn)
		return
	}
	if hint == "" {
		hint = fmt.Sprintf("export it: exports.%s = async (event, context) => {…}, or export async function %s(event, context) {…}", fn, fn)
	}
	v.errorf(p+".handler", hint, "%s exports no %q", base, fn)
}

// hasModule reports whether a folder holds the module a handler names.
func hasModule(dir, family, module string) bool {
	for _, f := range moduleFiles(family, module) {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

func (v *validator) bundle(p string, l *Lambda, family string) {
	switch {
	case l.Bundle == "":
	case l.Bundle != BundleEsbuild:
		v.errorf(p+".bundle", "write bundle: esbuild, or leave it out to package the folder", "%q is not a bundler", l.Bundle)
	case family != "nodejs" && family != "":
		v.errorf(p+".bundle", "remove it; Python, Go and the other runtimes are packaged by their own build", "bundle: esbuild is for Node.js functions, and this one runs %s", l.Runtime)
	case l.Code.Kind == CodeZip || l.Code.Kind == CodeS3:
		v.errorf(p+".bundle", "remove it, or point source: at the handler's file or folder", "a ready package is deployed as it is: there is nothing to bundle")
	}
}

func (v *validator) environment(p string, l *Lambda) {
	size := 0
	keys := make([]string, 0, len(l.Environment))
	for k := range l.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		size += len(k) + len(l.Environment[k])
		kp := p + ".environment." + k
		switch {
		case !envKeyRe.MatchString(k):
			v.errorf(kp, "start with a letter; use letters, digits and '_'", "%q is not a valid environment variable name", k)
		case slices.Contains(reservedEnv, k) || strings.HasPrefix(k, "XFLOW_STREAM_"):
			v.errorf(kp, "rename it; Lambda or xflow sets this one", "%s is reserved", k)
		}
	}
	if size > spec.MaxEnvironmentBytes {
		v.errorf(p+".environment", "move large values to SSM Parameter Store or S3 and pass their names", "the variables take %d bytes, more than Lambda's %d", size, spec.MaxEnvironmentBytes)
	}
}

// subscribers checks that every subscriber is a defined lambda.
func (v *validator) subscribers() {
	var lambdas []string
	for _, l := range v.c.Lambdas {
		lambdas = append(lambdas, l.Name)
	}
	for i, s := range v.c.Subscriptions {
		seen := map[string]bool{}
		for j, sub := range s.Subscribers {
			p := fmt.Sprintf("subscriptions[%d].subscribers[%d]", i, j)
			switch {
			case !slices.Contains(lambdas, sub.Lambda):
				hint := "define it under lambdas"
				if c := closest(sub.Lambda, lambdas); c != "" {
					hint = fmt.Sprintf("did you mean %q?", c)
				}
				v.errorf(p+".lambda", hint, "lambda %q is not defined", sub.Lambda)
			case seen[sub.Lambda]:
				v.errorf(p+".lambda", "keep one", "lambda %q subscribes to %q twice", sub.Lambda, s.Event)
			}
			seen[sub.Lambda] = true
			v.mapping(p, sub.Mapping)
		}
	}
}

func (v *validator) workflows(scheme names.Scheme, events []string) {
	seen := map[string]bool{}
	for i, w := range v.c.Workflows {
		p := fmt.Sprintf("workflows[%d]", i)
		switch {
		case w.ID == "":
			v.errorf(p+".id", "add id: NAME", "the workflow has no id")
		case seen[w.ID]:
			v.errorf(p+".id", "rename one of them", "workflow %q is defined twice", w.ID)
		default:
			seen[w.ID] = true
			if err := names.CheckFunction(scheme.Tracker(w.ID)); err != nil {
				v.errorf(p+".id", "the tracker function is tracker_<id>: keep the id within 56 letters, digits, '-' and '_', prefix included", "tracker name %v", err)
			} else if err := names.CheckLogGroup(scheme.TrackerLogGroup(w.ID)); err != nil {
				v.errorf(p+".id", "use letters, digits, '-' and '_'", "log group name %v", err)
			}
		}
		if len(w.Description) > spec.MaxWorkflowDescription {
			v.errorf(p+".description", "shorten it", "the description is longer than %d characters", spec.MaxWorkflowDescription)
		}
		if len(w.Flow) == 0 {
			v.errorf(p+".flow", "list the workflow's events in order", "the workflow has no flow")
		}
		inFlow := map[string]bool{}
		for j, e := range w.Flow {
			fp := fmt.Sprintf("%s.flow[%d]", p, j)
			switch {
			case !slices.Contains(events, e):
				v.errorf(fp, eventHint(e, events), "event %q is not defined", e)
			case inFlow[e]:
				v.errorf(fp, "list each event once; a workflow is tracked as an ordered list of distinct events", "event %q appears twice in the flow", e)
			}
			inFlow[e] = true
		}
	}
}

// unused warns about lambdas nothing invokes.
func (v *validator) unused() {
	used := map[string]bool{}
	for _, s := range v.c.Subscriptions {
		for _, sub := range s.Subscribers {
			used[sub.Lambda] = true
		}
	}
	for i, l := range v.c.Lambdas {
		if l.Name != "" && !used[l.Name] {
			v.warnf(fmt.Sprintf("lambdas[%d].name", i), "add it to the subscribers of an event", "lambda %q subscribes to no event, so nothing invokes it", l.Name)
		}
	}
}

// setRange checks an optional number when the file or the environment set
// it; zero otherwise means "use the default".
func (v *validator) setRange(path string, n, lo, hi int, unit string) {
	_, inFile := v.c.pos[path]
	_, inEnv := v.env[path]
	if (inFile || inEnv) && !v.failed(path) {
		v.intRange(path, n, lo, hi, unit)
	}
}

// failed reports whether the value at path already has an error, so one
// bad value gets one message.
func (v *validator) failed(path string) bool {
	for _, e := range v.errs {
		if e.Path == path {
			return true
		}
	}
	return false
}

func (v *validator) intRange(path string, n, lo, hi int, unit string) {
	if n < lo || n > hi {
		v.errorf(path, fmt.Sprintf("write a number from %d to %d", lo, hi), "%d %s is out of range", n, unit)
	}
}

func (v *validator) architecture(path, a string) {
	if a != "" && a != "x86_64" && a != "arm64" {
		v.errorf(path, suggest(a, []string{"x86_64", "arm64"}, "write x86_64 or arm64"), "%q is not a Lambda architecture", a)
	}
}

func (v *validator) tracing(path, mode string) {
	if mode != "" && mode != TracingActive && mode != TracingOff {
		fix := "write active (Lambda's X-Ray active tracing) or off"
		if near := didyoumean.Closest(mode, []string{TracingActive, TracingOff}); near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		v.errorf(path, fix, "%q is not a tracing mode", mode)
	}
}

func (v *validator) logRetention(path string, days int) {
	if _, set := v.c.pos[path]; set && !slices.Contains(spec.LogRetentionDays, days) {
		near := spec.LogRetentionDays[0]
		for _, d := range spec.LogRetentionDays {
			if d <= days {
				near = d
			}
		}
		v.errorf(path, fmt.Sprintf("CloudWatch Logs accepts %s, … %d; the nearest below is %d", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(spec.LogRetentionDays[:12])), ", "), "[]"), spec.LogRetentionDays[len(spec.LogRetentionDays)-1], near), "%d days is not a retention CloudWatch Logs offers", days)
	}
}
