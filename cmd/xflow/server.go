package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awsconfig"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/deploy"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/pipeline"
	"github.com/xflowhq/xflow/internal/server"
)

// Environment variables of xflow server.
const (
	envToken = "XFLOW_API_TOKEN"
	envAddr  = "XFLOW_ADDR"
)

// startupCheckTimeout bounds the check that the streams exist, retries
// included.
const startupCheckTimeout = time.Minute

// deployWorkflow is deploy.Run; tests replace it.
var deployWorkflow = deploy.Run

func newServerCmd(s streams) *cobra.Command {
	var (
		path, addr, token   string
		logLevel, logFormat string
		withDeploy, direct  bool
		noBootstrapRule     bool
		shutdownTimeout     time.Duration
		onLocal, strict     bool
		state               string
		allowedHosts        []string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve a REST API and a tracking page to publish events and track executions over HTTP",
		Long: `Serve the REST API of a workflow configuration, and a page that shows it:

  GET  /ping                                                    name and version
  POST /publish  {"stream": EVENT, "event": {"execution_id": ...}}   as xflow publish
  GET  /track/workflows/WORKFLOW_ID/executions/EXECUTION_ID     as xflow track --json
  GET  /workflows                                               the workflows and their flows
  GET  /workflows/WORKFLOW_ID/executions?limit=N&cursor=C&status=S   executions, newest first, paged
  GET  /workflows/WORKFLOW_ID/executions/EXECUTION_ID           as /track/...
  POST /workflows/WORKFLOW_ID/executions/EXECUTION_ID/redrive   as xflow redrive, for one execution
  GET  /                                                        the tracking page (a browser)

Answers are JSON; errors are {"error": {"code": ..., "message": ...}} with
400 for a malformed body, a missing or invalid field, or a bad limit or
cursor, 401 without the token, 404 for an event or a workflow not in the
config, 405 for a wrong method, 413 for an event over the 1 MiB of a Kinesis
record, 502/503/504 when AWS fails or cannot be reached.

The page at / draws each workflow's flow, lists its executions with their
status (or the failed ones only), shows one execution event by event with the
failing functions' logs and a Redrive button when it failed, and starts
executions; it asks for the token when the server has one.

With --local the workflow runs on this machine instead of AWS, as with xflow
run: the runtime starts in this process on the state folder (.xflow beside
the config, or --state) and stops with the server. When a runtime already
runs on that folder (xflow run in another terminal), the server serves it.

On AWS the server checks on startup that the streams of every event exist,
and says which are missing; --deploy first synthesizes the workflow and
deploys it with the CDK CLI, as the original xFlow's --server did.

It listens on loopback unless told otherwise; beyond loopback it requires a
token, which every route but /ping and the page's own files then requires as
"Authorization: Bearer <token>". Without a token it answers only requests
whose Host is a loopback name or address (localhost, 127.0.0.1, [::1]), so
that a web page whose name was pointed at 127.0.0.1 cannot use it; add names
with --allowed-host. A blank token, or one with spaces around it, is refused. Prefer $XFLOW_API_TOKEN to --token: command
lines show in ps. SIGINT or SIGTERM stops it gracefully: requests in flight
finish (and with --local the runtime's invocations), then it exits 0.

Logs go to stderr, one line per request (method, path, status, duration,
bytes), never the token nor the events.`,
		Example: `  xflow server -c xflow.yaml
  xflow server -c xflow.yaml --local        # then open http://127.0.0.1:8080/
  XFLOW_API_TOKEN=s3cret xflow server -c xflow.yaml --addr 0.0.0.0:8080 --log-format json
  curl -XPOST localhost:8080/publish -d '{"stream": "FileUploaded", "event": {"execution_id": "ex1"}}'
  curl localhost:8080/track/workflows/compute_word_count/executions/ex1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := newLogger(s.err, logLevel, logFormat)
			if err != nil {
				return usageError{err}
			}
			if !cmd.Flags().Changed("token") {
				token = os.Getenv(envToken)
			} else {
				log.Warn("the token is on the command line, where ps shows it; prefer the environment variable " + envToken)
			}
			if !cmd.Flags().Changed("addr") {
				if env := os.Getenv(envAddr); env != "" {
					addr = env
				}
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return usageError{fmt.Errorf("--addr %q is not host:port; write one such as %s, or :8080 for every interface", addr, server.DefaultAddr)}
			}
			if onLocal && (withDeploy || direct || noBootstrapRule) {
				return usageError{errors.New("--local runs the workflow on this machine: it does not go with --deploy, --direct or --no-bootstrap-rule")}
			}
			if !onLocal && (state != "" || strict) {
				return usageError{errors.New("--state and --strict-runtimes go with --local")}
			}
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			// Refuse an exposed address before a deploy that takes minutes.
			if err := server.CheckAddr(ctx, addr, token); err != nil {
				return err
			}
			opts := server.Options{
				Config:          c,
				Token:           token,
				Version:         version,
				Logger:          log,
				ShutdownTimeout: shutdownTimeout,
				AllowedHosts:    allowedHosts,
			}
			if onLocal {
				// The functions' packages for this machine, from their git
				// sources too. The lock is saved once the runtime runs (a
				// failed start leaves it as it was), before serving.
				res, err := pipeline.Run(ctx, c, pipeline.Options{
					Until: pipeline.Build, Target: build.Host, Progress: s.err,
					Build: build.Options{StrictRuntimes: strict},
				})
				if err != nil {
					return err
				}
				return serveLocal(ctx, s, c, opts, addr, state, res)
			}
			if withDeploy {
				deployOpts := deploy.Options{Direct: direct, Version: version, Out: s.err, Err: s.err}
				if noBootstrapRule {
					deployOpts.Context = generator.DefaultContext()
					deployOpts.Context[spec.ContextBootstrapVersionRule] = false
				}
				log.Info("deploying the workflow before serving", "config", path)
				if err := deployWorkflow(ctx, c, deployOpts); err != nil {
					return fmt.Errorf("deploy: %w", err)
				}
			}
			if opts.Backend, err = awsBackend(ctx, c, log); err != nil {
				return err
			}
			return server.New(opts).ListenAndServe(ctx, addr)
		},
	}
	configFlag(cmd, &path)
	f := cmd.Flags()
	f.StringVar(&addr, "addr", server.DefaultAddr, "the `host:port` to listen on (default also from $"+envAddr+")")
	f.StringVar(&token, "token", "", "the bearer `token` clients must send (default $"+envToken+")")
	f.BoolVar(&withDeploy, "deploy", false, "synthesize and deploy the workflow (cdk deploy) before serving")
	f.BoolVar(&direct, "direct", false, "with --deploy: deploy without a change set, as emulators such as moto need")
	f.BoolVar(&noBootstrapRule, "no-bootstrap-rule", false, "with --deploy: leave out the bootstrap-version rule (for emulators such as moto)")
	f.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log `format`: text (key=value) or json")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long a stop waits for requests in flight")
	f.StringSliceVar(&allowedHosts, "allowed-host", nil, "without a token, also answer requests for this `host` (name or name:port) besides loopback ones; repeatable")
	f.BoolVar(&onLocal, "local", false, "run the workflow on this machine with the local runtime (as xflow run) instead of AWS")
	f.StringVar(&state, "state", "", "with --local: the state `folder` (default: .xflow beside the config)")
	strictRuntimesFlag(cmd, &strict, "with --local: ")
	return cmd
}

// serveLocal serves the API with the local runtime: one it starts in this
// process and stops after the server, or one that already runs on the
// state folder in another process.
func serveLocal(ctx context.Context, s streams, c *config.Config, opts server.Options, addr, state string, built *pipeline.Result) (err error) {
	if state == "" {
		state = pipeline.LayoutOf(c).State()
	}
	lock := built.Lock
	if info, running := local.Running(state); running {
		opts.Logger.Info("a local runtime already runs on the state folder; serving it", "state", state, "pid", info.PID, "config", info.Config)
		if !sameFile(info.Config, c.File) {
			opts.Logger.Warn("that runtime runs another config: events of this one that it does not know are not delivered", "runtime_config", info.Config, "config", c.File)
		}
		backend, err := server.OpenLocal(c, state)
		if err != nil {
			return err
		}
		defer backend.Close()
		if err := lock.Save(); err != nil { // that runtime runs its own build
			return err
		}
		opts.Backend = backend
		// The events the server accepts go to the state folder's streams
		// whoever runs them; when that runtime stops, one starts here so
		// that they keep running.
		takeover := local.StartTakeover(ctx, c, localOptions(s, opts.Logger, state, built))
		defer func() {
			if serr := stopRuntime(takeover); err == nil {
				err = serr
			}
		}()
		return server.New(opts).ListenAndServe(ctx, addr)
	}
	rt := local.New(c, localOptions(s, opts.Logger, state, built))
	if err := rt.Start(ctx); err != nil {
		return err
	}
	defer func() {
		// After the server: requests in flight have their answers.
		if serr := stopRuntime(rt); err == nil {
			err = serr
		}
	}()
	if err := lock.Save(); err != nil {
		return err
	}
	opts.Backend = server.NewLocal(rt)
	return server.New(opts).ListenAndServe(ctx, addr)
}

func localOptions(s streams, log *slog.Logger, state string, built *pipeline.Result) local.Options {
	return local.Options{
		StateDir:  state,
		Log:       log.With("component", "local"),
		Progress:  s.err,
		Artifacts: built.Artifacts,
		Builder:   built.Builder,
	}
}

// stopRuntime stops a runtime, or a takeover and the runtime it started,
// leaving invocations in flight stopGrace to finish.
func stopRuntime(rt interface{ Stop(context.Context) error }) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	return rt.Stop(ctx)
}

// awsBackend is the server's backend on AWS, once every stream of the
// workflow is known to exist.
func awsBackend(ctx context.Context, c *config.Config, log *slog.Logger) (server.Backend, error) {
	awsCfg, err := awsconfig.Load(ctx, c)
	if err != nil {
		return nil, err
	}
	backend := server.NewAWS(awsCfg, c)
	checkCtx, cancel := context.WithTimeout(ctx, startupCheckTimeout)
	defer cancel()
	if err := backend.CheckStreams(checkCtx); err != nil {
		if _, ok := errors.AsType[*server.MissingStreamsError](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("check that the workflow's streams exist in %s: %w", awsCfg.Region, err)
	}
	log.Info("every stream exists", "events", len(c.Events()), "region", awsCfg.Region)
	return backend, nil
}

// newLogger returns the server's structured logger on w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error", "critical":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: write debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: write text or json", format)
	}
}

// sameFile reports whether two paths name the same file; a path that
// cannot be read is compared as written.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return os.SameFile(fa, fb)
}
