package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/xflowhq/xflow/internal/track"
)

// The executions of a workflow are the log streams of its tracker's log
// group, one per execution id: both backends list them with
// DescribeLogStreams ordered by the time of their last event, newest
// first, and page with its token. The server turns a token into an opaque
// cursor bound to the workflow, and gives each execution its status from
// the Backend's track report.

// Limits of GET /workflows/{workflow_id}/executions.
const (
	// DefaultExecutionsLimit is the page size without ?limit=.
	DefaultExecutionsLimit = 20
	// MaxExecutionsLimit is DescribeLogStreams' own limit: a page is one
	// call.
	MaxExecutionsLimit = 50
	// maxCursorBytes bounds a cursor; AWS's tokens are a few hundred
	// bytes.
	maxCursorBytes = 4096
	// summaryConcurrency bounds the track reports built at once for one
	// page; the Backend's limiter paces their AWS calls anyway.
	summaryConcurrency = 8
	// maxDescribeCalls bounds the DescribeLogStreams calls of one page:
	// AWS may return short pages, even empty ones, with a token.
	maxDescribeCalls = 10
)

// ErrInvalidPageToken means a backend refused the page token of a cursor:
// it is not one of its tokens, or it expired (AWS keeps them 24 hours).
// The server answers 400 invalid_cursor.
var ErrInvalidPageToken = errors.New("invalid page token")

// ExecutionRef is one execution a backend found: the log stream the
// tracker writes it to.
type ExecutionRef struct {
	ID string
	// FirstEventAt and LastEventAt are the times of the log stream's first
	// and last events; zero when it has none. On AWS the last one is
	// updated eventually (usually within minutes, per the API's docs).
	FirstEventAt, LastEventAt time.Time
}

// ExecutionsPage is one page of a workflow's executions, newest first by
// last event. Next is the token of the next page, "" after the last one.
type ExecutionsPage struct {
	Executions []ExecutionRef
	Next       string
}

// LogStreamsAPI is CloudWatch Logs' DescribeLogStreams;
// *cloudwatchlogs.Client and the local runtime's *local.Logs satisfy it.
type LogStreamsAPI interface {
	DescribeLogStreams(ctx context.Context, params *cloudwatchlogs.DescribeLogStreamsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
}

// describeExecutions reads one page of the executions in a tracker log
// group, newest first by last event: up to limit streams from token ("" for
// the first page). A group that does not exist (the workflow was never
// deployed, or never ran locally) has no executions.
//
// AWS may hand back a token with a short page, or with the last one; the
// page is filled from the following ones, and a token is kept only when a
// look one stream ahead finds more, so that the last page says it is the
// last.
func describeExecutions(ctx context.Context, api LogStreamsAPI, group string, limit int, token string) (ExecutionsPage, error) {
	page := ExecutionsPage{Executions: []ExecutionRef{}}
	describe := func(n int, tok string) (*cloudwatchlogs.DescribeLogStreamsOutput, error) {
		in := &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(group),
			OrderBy:      types.OrderByLastEventTime,
			Descending:   aws.Bool(true),
			Limit:        aws.Int32(int32(n)),
		}
		if tok != "" {
			in.NextToken = aws.String(tok)
		}
		out, err := api.DescribeLogStreams(ctx, in)
		if err != nil {
			if _, ok := errors.AsType[*types.InvalidParameterException](err); ok && tok != "" {
				return nil, fmt.Errorf("%w: %w", ErrInvalidPageToken, err)
			}
			return nil, fmt.Errorf("list the log streams of %s: %w", group, err)
		}
		return out, nil
	}
	for calls := 0; len(page.Executions) < limit && calls < maxDescribeCalls; calls++ {
		out, err := describe(limit-len(page.Executions), token)
		if _, ok := errors.AsType[*types.ResourceNotFoundException](err); ok {
			return page, nil
		}
		if err != nil {
			return page, err
		}
		for _, st := range out.LogStreams {
			page.Executions = append(page.Executions, ExecutionRef{
				ID:           aws.ToString(st.LogStreamName),
				FirstEventAt: msTime(st.FirstEventTimestamp),
				LastEventAt:  msTime(st.LastEventTimestamp),
			})
		}
		next := aws.ToString(out.NextToken)
		if next == "" || next == token {
			return page, nil
		}
		token = next
	}
	if len(page.Executions) < limit {
		// Out of calls: the rest comes with the next page.
		page.Next = token
		return page, nil
	}
	out, err := describe(1, token)
	if err != nil {
		return page, err
	}
	if len(out.LogStreams) > 0 {
		page.Next = token
	}
	return page, nil
}

func msTime(ms *int64) time.Time {
	if ms == nil || *ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}

// cursor is what an opaque cursor holds: the workflow it pages and the
// backend's token. It is base64url JSON; it is not secret (the token is
// AWS's), only opaque, so that clients do not build their own.
type cursor struct {
	V        int    `json:"v"`
	Workflow string `json:"w"`
	Token    string `json:"t"`
}

const cursorVersion = 1

func encodeCursor(workflowID, token string) string {
	b, _ := json.Marshal(cursor{V: cursorVersion, Workflow: workflowID, Token: token})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(workflowID, s string) (string, error) {
	bad := func(why string) error {
		return errorf(http.StatusBadRequest, codeInvalidCursor, paramCursor,
			"cursor %s; use the next_cursor of a page of this workflow's executions, or leave cursor out for the first page", why)
	}
	if len(s) > maxCursorBytes {
		return "", bad(fmt.Sprintf("is %d bytes long, more than any this server gives", len(s)))
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", bad("is not one this server gave")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.V != cursorVersion || c.Token == "" {
		return "", bad("is not one this server gave")
	}
	if c.Workflow != workflowID {
		return "", bad(fmt.Sprintf("pages the executions of workflow %q, not of %q", c.Workflow, workflowID))
	}
	return c.Token, nil
}

// parseLimit reads ?limit=: DefaultExecutionsLimit when absent.
func parseLimit(s string, present bool) (int, error) {
	if !present {
		return DefaultExecutionsLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxExecutionsLimit {
		return 0, errorf(http.StatusBadRequest, codeInvalidLimit, paramLimit,
			"limit %q is not a whole number from 1 to %d; leave it out for %d", s, MaxExecutionsLimit, DefaultExecutionsLimit)
	}
	return n, nil
}

// ExecutionSummary is one execution in GET /workflows/{id}/executions:
// where it stands, from its track report.
type ExecutionSummary struct {
	ExecutionID string       `json:"execution_id"`
	Status      track.Status `json:"status"`
	// StartedAt and LastEventAt are the arrival times of its first and
	// last events; LastEvent is the name of the last, in the flow or not.
	StartedAt   *track.Time `json:"started_at"`
	LastEventAt *track.Time `json:"last_event_at"`
	LastEvent   *string     `json:"last_event"`
	// FurthestEvent is the last event of the flow received;
	// NextExpectedEvent the one the execution waits for (null when it
	// finished).
	FurthestEvent     *string `json:"furthest_event"`
	NextExpectedEvent *string `json:"next_expected_event"`
	// EventsReceived counts the events of the flow received, of
	// EventsTotal.
	EventsReceived int `json:"events_received"`
	EventsTotal    int `json:"events_total"`
	// FailingFunctions are the config names of the functions that should
	// produce the next expected event and logged a failure for this
	// execution: with status "failed", the execution is stuck at
	// NextExpectedEvent because of them.
	FailingFunctions []string `json:"failing_functions"`
}

// Executions is the answer of GET /workflows/{workflow_id}/executions.
type Executions struct {
	WorkflowID string             `json:"workflow_id"`
	Executions []ExecutionSummary `json:"executions"`
	// NextCursor pages on (?cursor=); null on the last page.
	NextCursor *string `json:"next_cursor"`
}

func summarize(rep *track.Report, ref ExecutionRef) ExecutionSummary {
	s := ExecutionSummary{
		ExecutionID:       ref.ID,
		Status:            rep.Status,
		LastEvent:         rep.TrackingSummary.LastReceivedEvent,
		FurthestEvent:     rep.FurthestEvent,
		NextExpectedEvent: rep.NextExpectedEvent,
		EventsTotal:       len(rep.Events),
		FailingFunctions:  []string{},
	}
	for _, e := range rep.Events {
		if e.State == track.StateReceived {
			s.EventsReceived++
		}
	}
	if n := len(rep.EventsReceived); n > 0 {
		first, last := rep.EventsReceived[0].Timestamp, rep.EventsReceived[n-1].Timestamp
		s.StartedAt, s.LastEventAt = &first, &last
	} else {
		if !ref.FirstEventAt.IsZero() {
			s.StartedAt = &track.Time{Time: ref.FirstEventAt}
		}
		if !ref.LastEventAt.IsZero() {
			s.LastEventAt = &track.Time{Time: ref.LastEventAt}
		}
	}
	for _, p := range rep.Producers {
		if p.Failed {
			s.FailingFunctions = append(s.FailingFunctions, p.Lambda)
		}
	}
	return s
}

// summaryCache keeps the summaries of finished executions, which do not
// change while their log stream does not: a page that is shown again
// costs one DescribeLogStreams call rather than a track report per
// execution.
type summaryCache struct {
	mu sync.Mutex
	m  map[summaryKey]ExecutionSummary
}

type summaryKey struct {
	workflow, execution string
	lastEvent           int64 // the log stream's, in ms
}

// maxCachedSummaries bounds the cache; when full it starts over.
const maxCachedSummaries = 10_000

func (c *summaryCache) get(k summaryKey) (ExecutionSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *summaryCache) put(k summaryKey, s ExecutionSummary) {
	if s.Status != track.StatusFinished || k.lastEvent == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSummaries {
		c.m = map[summaryKey]ExecutionSummary{}
	}
	c.m[k] = s
}

// summaries builds the summary of every execution of a page from its
// track report, a few at a time.
func (s *Server) summaries(ctx context.Context, workflowID string, refs []ExecutionRef) ([]ExecutionSummary, error) {
	out := make([]ExecutionSummary, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, summaryConcurrency)
	var wg sync.WaitGroup
	for i, ref := range refs {
		key := summaryKey{workflowID, ref.ID, ref.LastEventAt.UnixMilli()}
		if ref.LastEventAt.IsZero() {
			key.lastEvent = 0
		}
		if sum, ok := s.cache.get(key); ok {
			out[i] = sum
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rep, err := s.backend.Track(ctx, workflowID, ref.ID)
			if errors.Is(err, track.ErrInvalidExecutionID) {
				// A log stream that no execution id names, made by hand:
				// listed, not tracked.
				out[i] = ExecutionSummary{ExecutionID: ref.ID, Status: track.StatusNotFound, FailingFunctions: []string{}}
				return
			}
			if err != nil {
				errs[i] = fmt.Errorf("track execution %s: %w", ref.ID, err)
				return
			}
			out[i] = summarize(rep, ref)
			s.cache.put(key, out[i])
		})
	}
	wg.Wait()
	// One failure tells the story (AWS throttling or unreachable); the
	// others would repeat it.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
