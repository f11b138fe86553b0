// Package server is the REST API of server mode (`xflow server`): clients
// publish events of a workflow and track its executions over HTTP, as the
// original xFlow's `--server` let them.
//
//	GET  /ping                                                 name and version, no token needed
//	POST /publish          {"stream": EVENT, "event": {...}}   as `xflow publish`
//	GET  /track/workflows/{workflow_id}/executions/{execution_id}   as `xflow track --json`
//	GET  /workflows                                            the workflows of the config and their flows
//	GET  /workflows/{workflow_id}/executions?limit=&cursor=    its executions, newest first, paged
//	GET  /workflows/{workflow_id}/executions/{execution_id}    the same report as /track/...
//	POST /workflows/{workflow_id}/executions/{execution_id}/redrive   redrives what functions gave up on of it
//	GET  /  and /assets/{name}                                 the tracking page (page.go), no token needed
//
// Every answer is JSON; errors are {"error": {"code", "message"}} with a
// status that says whose fault it is: 4xx for the request (never a 500 for
// bad input, a body cut short or too slow included), 502/503/504 for AWS.
// Without a token, only requests for a loopback Host (or an allowed one)
// are answered. A request is checked entirely against the
// config before the Backend is called, so a bad one costs no AWS call.
//
// The Backend does the publishing and tracking: AWS (Kinesis and CloudWatch
// Logs, aws.go) or the local runtime (local.go). Routes are listed in one place
// (Server.routes); each is a handler returning an error, so adding one is a
// line and its errors are mapped like the others.
package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// Backend publishes events and tracks executions of one config. It is
// called only with requests that passed the config's checks, from many
// goroutines at once.
type Backend interface {
	// Publish puts a prepared event on its stream.
	Publish(ctx context.Context, rec *publish.Record) (publish.Result, error)
	// Track reports where one execution of a workflow stands; an
	// execution nobody has seen is a report with status not_found.
	Track(ctx context.Context, workflowID, executionID string) (*track.Report, error)
	// Executions lists the executions of a workflow, newest first by the
	// time of their last event: at most limit (1 to MaxExecutionsLimit)
	// from the page token ("" for the first page). A token the backend
	// refuses is ErrInvalidPageToken.
	Executions(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error)
	// CheckTracker looks at the workflow's tracker when a report's
	// execution is not found or in progress (track.CheckTracker), so that
	// a failing tracker is not taken for an execution that never started.
	CheckTracker(ctx context.Context, rep *track.Report) error
	// Redrive delivers again every failure record that holds a record of
	// an execution, each to the function that gave it up only
	// (redrive.ForExecution).
	Redrive(ctx context.Context, workflowID, executionID string, dryRun bool) (*redrive.ExecutionReport, error)
}

// Defaults of Options.
const (
	// DefaultAddr is loopback: serving others needs an explicit address
	// and a token.
	DefaultAddr = "127.0.0.1:8080"
	// MaxBodyBytes bounds a request body: one Kinesis record (1 MiB) and
	// room for the envelope, so that an event too large for Kinesis gets
	// an exact 413 from the check that measures it, and anything far
	// larger is cut off while it is read.
	MaxBodyBytes = spec.MaxRecordBytes + 64<<10
	// DefaultPublishTimeout and DefaultTrackTimeout bound the Backend's
	// work for one request, retries included. Track reads several log
	// groups at CloudWatch Logs' few calls per second.
	DefaultPublishTimeout = 30 * time.Second
	DefaultTrackTimeout   = 90 * time.Second
	// DefaultRedriveTimeout bounds a redrive: it invokes functions, one
	// batch after another.
	DefaultRedriveTimeout = 10 * time.Minute
	// DefaultShutdownTimeout is how long a stop waits for requests in
	// flight.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultReadTimeout bounds the reading of a request: a 1 MiB body
	// over a slow link.
	DefaultReadTimeout = time.Minute
)

// Options configure a Server.
type Options struct {
	// Config is the workflow configuration requests are checked against.
	Config *config.Config
	// Backend publishes and tracks.
	Backend Backend
	// Token, when set, must come as "Authorization: Bearer <token>" on
	// every route but /ping.
	Token string
	// Version is what /ping reports.
	Version string
	// Logger receives one line per request and the server's events;
	// slog.Default() when nil.
	Logger *slog.Logger
	// PublishTimeout, TrackTimeout, RedriveTimeout and ShutdownTimeout:
	// the defaults above when zero.
	PublishTimeout, TrackTimeout, RedriveTimeout, ShutdownTimeout time.Duration
	// ReadTimeout bounds the reading of a request, body included; a body
	// slower than that gets 408. DefaultReadTimeout when zero.
	ReadTimeout time.Duration
	// AllowedHosts are the names (or name:port) besides loopback ones that
	// a server without a token answers in the Host header, for a proxy or
	// a name of this machine. A server with a token answers any.
	AllowedHosts []string
}

// Server serves the REST API of one config through a Backend.
type Server struct {
	config    *config.Config
	backend   Backend
	tokenHash []byte // SHA-256 of the token, nil without one
	version   string
	log       *slog.Logger

	publishTimeout, trackTimeout, redriveTimeout, shutdownTimeout, readTimeout time.Duration
	// tokenErr is what is wrong with the token given (blank, padded); Serve
	// refuses to start with it.
	tokenErr     error
	allowedHosts []string // lower case

	described Workflows    // the answer of GET /workflows
	cache     summaryCache // of finished executions' summaries
	page      *page        // the tracking page

	handler http.Handler
}

// New returns a Server. Config and Backend are required.
func New(opts Options) *Server {
	if opts.Config == nil || opts.Backend == nil {
		panic("server.New: Config and Backend are required")
	}
	s := &Server{
		config:          opts.Config,
		backend:         opts.Backend,
		version:         cmp.Or(opts.Version, "dev"),
		log:             cmp.Or(opts.Logger, slog.Default()),
		publishTimeout:  cmp.Or(opts.PublishTimeout, DefaultPublishTimeout),
		trackTimeout:    cmp.Or(opts.TrackTimeout, DefaultTrackTimeout),
		redriveTimeout:  cmp.Or(opts.RedriveTimeout, DefaultRedriveTimeout),
		shutdownTimeout: cmp.Or(opts.ShutdownTimeout, DefaultShutdownTimeout),
		readTimeout:     cmp.Or(opts.ReadTimeout, DefaultReadTimeout),
		tokenErr:        CheckToken(opts.Token),
	}
	if opts.Token != "" {
		h := sha256.Sum256([]byte(opts.Token))
		s.tokenHash = h[:]
	}
	for _, h := range opts.AllowedHosts {
		s.allowedHosts = append(s.allowedHosts, strings.ToLower(strings.TrimSpace(h)))
	}
	s.described = describeWorkflows(opts.Config)
	s.page = newPage(opts.Token != "")
	s.handler = s.newHandler()
	return s
}

// Handler is the API as an http.Handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// route is one endpoint: a method and a ServeMux path pattern.
type route struct {
	method string
	path   string
	handle handlerFunc
	public bool // served without the token
}

// handlerFunc serves one request; an error it returns becomes the JSON
// error answer (see errorOf).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routes lists the API. A new route is one more line here.
func (s *Server) routes() []route {
	return []route{
		{method: http.MethodGet, path: "/ping", handle: s.ping, public: true},
		{method: http.MethodPost, path: "/publish", handle: s.publish},
		{method: http.MethodGet, path: "/track/workflows/{workflow_id}/executions/{execution_id}", handle: s.track},
		{method: http.MethodGet, path: "/workflows", handle: s.workflows},
		{method: http.MethodGet, path: "/workflows/{workflow_id}/executions", handle: s.executions},
		{method: http.MethodGet, path: "/workflows/{workflow_id}/executions/{execution_id}", handle: s.track},
		{method: http.MethodPost, path: "/workflows/{workflow_id}/executions/{execution_id}/redrive", handle: s.redrive},
		{method: http.MethodGet, path: "/{$}", handle: s.page.index, public: true},
		{method: http.MethodGet, path: "/assets/{name}", handle: s.page.asset, public: true},
	}
}

// newHandler builds the mux and wraps it: every request is logged and
// recovered; unsafe cross-origin browser requests are refused, so that a
// web page cannot make a visitor's browser publish to a server on their
// loopback (curl and other clients send no Origin and pass).
func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	allowed := map[string][]string{} // path → methods, for 405s
	public := map[string]bool{}      // paths served without the token
	var paths, all []string
	for _, rt := range s.routes() {
		all = append(all, rt.method+" "+strings.TrimSuffix(rt.path, "{$}"))
		h := s.serve(rt.handle)
		if !rt.public {
			h = s.authorize(h)
		}
		mux.Handle(rt.method+" "+rt.path, h)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		public[rt.path] = public[rt.path] || rt.public
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	// The same paths without a method catch every other method: a 405 in
	// JSON with Allow, rather than the mux's plain-text one. Like the 404
	// below, which lists the routes, it answers only those with the token
	// on a path that needs it: the API's shape is not for everyone.
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		h := s.serve(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "", "%s is not allowed on %s; use %s", r.Method, r.URL.Path, allow)
		})
		if !public[p] {
			h = s.authorize(h)
		}
		mux.Handle(p, h)
	}
	routes := strings.Join(all, ", ")
	mux.Handle("/", s.authorize(s.serve(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, codeNotFound, "", "no route %s %s; the API has %s", r.Method, r.URL.Path, routes)
	})))

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(s.serve(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusForbidden, codeCrossOrigin, "", "cross-origin %s requests from a browser are refused", r.Method)
	}))
	return s.logRequests(s.recoverPanics(s.checkHost(csrf.Handler(mux))))
}

// checkHost refuses, on a server without a token, a Host header that is
// not a loopback name or address nor one of AllowedHosts. A page of
// another site can point its own name at 127.0.0.1 (DNS rebinding): the
// browser then sends that name as Host, and the Origin it sends matches
// it, so only the Host tells that the request is not for this server.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.tokenHash != nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.writeError(w, r, errorf(http.StatusForbidden, codeHostNotAllowed, "",
				"this server has no token, so it answers only requests for a loopback name (localhost, 127.0.0.1, [::1]), not for %q; start it with --allowed-host NAME to answer NAME too, or with a token",
				clip(r.Host)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed tells whether a Host header names this server without a
// token: a loopback name or address, any port, or an allowed host. A
// request without Host (HTTP/1.0) comes from no browser, and passes.
func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	hostport = strings.ToLower(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: browsers resolve these to loopback themselves
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return true
	}
	for _, a := range s.allowedHosts {
		if a == host || a == hostport {
			return true
		}
	}
	return false
}

// serve adapts a handlerFunc: its error is written as JSON.
func (s *Server) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authorize lets a request through when it carries the token.
func (s *Server) authorize(next http.Handler) http.Handler {
	if s.tokenHash == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xflow"`)
			s.writeError(w, r, errorf(http.StatusUnauthorized, codeUnauthorized, "",
				"this server needs a token: send the header Authorization: Bearer <token>"))
			return
		}
		// Compare digests: constant time, and the length of the token
		// does not show either.
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if subtle.ConstantTimeCompare(got[:], s.tokenHash) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xflow", error="invalid_token"`)
			s.writeError(w, r, errorf(http.StatusUnauthorized, codeUnauthorized, "", "the bearer token is not this server's"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
