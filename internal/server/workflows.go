package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/track"
)

// Query parameters of GET /workflows/{workflow_id}/executions, named as
// the "field" of their errors.
const (
	paramLimit  = "limit"
	paramCursor = "cursor"
	paramStatus = "status"
)

// maxFilterCalls bounds the pages of executions one filtered request reads
// (?status=): a workflow with few executions of that status among many
// answers a short page with a cursor to read on, rather than keep the
// client waiting.
const maxFilterCalls = 5

// filterStatuses are the statuses ?status= takes.
var filterStatuses = []track.Status{track.StatusFinished, track.StatusFailed, track.StatusInProgress, track.StatusNotFound}

// Workflows is the answer of GET /workflows.
type Workflows struct {
	Workflows []Workflow `json:"workflows"`
}

// Workflow is a workflow of the config, as the page draws it.
type Workflow struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// LogGroup is where the tracker writes its executions.
	LogGroup string `json:"log_group"`
	// Flow is its events in order.
	Flow []FlowEvent `json:"flow"`
}

// FlowEvent is one event of a workflow's flow.
type FlowEvent struct {
	Event  string `json:"event"`
	Stream string `json:"stream"`
	// Subscribers are the config names of the lambdas that listen to the
	// event; Producers those that publish it (by their emits:, or as
	// subscribers of the event before it in a workflow). The first event
	// of a flow usually has none: a client publishes it.
	Subscribers []string `json:"subscribers"`
	Producers   []string `json:"producers"`
}

// describeWorkflows is the config's workflows as GET /workflows answers
// them; it does not change while the server runs.
func describeWorkflows(c *config.Config) Workflows {
	scheme := names.New(c.General.NamePrefix)
	out := Workflows{Workflows: make([]Workflow, 0, len(c.Workflows))}
	for _, w := range c.Workflows {
		wf := Workflow{ID: w.ID, Description: w.Description, LogGroup: scheme.TrackerLogGroup(w.ID), Flow: make([]FlowEvent, 0, len(w.Flow))}
		for _, ev := range w.Flow {
			wf.Flow = append(wf.Flow, FlowEvent{
				Event:       ev,
				Stream:      scheme.Stream(ev),
				Subscribers: nonNil(c.SubscribersOf(ev)),
				Producers:   nonNil(c.ProducersOf(ev)),
			})
		}
		out.Workflows = append(out.Workflows, wf)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// workflows serves GET /workflows: the workflows of the config with their
// flows. It needs no Backend call.
func (s *Server) workflows(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.described)
}

// executions serves GET /workflows/{workflow_id}/executions?limit=&cursor=&status=:
// a page of the workflow's executions, newest first by the time of their
// last event, each with its status. With status, only the executions of
// that status: up to limit of them, from as many pages of executions as
// maxFilterCalls allows, and a cursor to read on when there may be more.
func (s *Server) executions(w http.ResponseWriter, r *http.Request) error {
	workflowID := r.PathValue("workflow_id")
	if _, err := track.CheckWorkflow(s.config, workflowID); err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q.Get(paramLimit), q.Has(paramLimit))
	if err != nil {
		return err
	}
	var token string
	if q.Has(paramCursor) {
		if token, err = decodeCursor(workflowID, q.Get(paramCursor)); err != nil {
			return err
		}
	}
	var status track.Status
	if q.Has(paramStatus) {
		status = track.Status(q.Get(paramStatus))
		if !slices.Contains(filterStatuses, status) {
			return errorf(http.StatusBadRequest, codeInvalidStatus, paramStatus, "status %q is not one of finished, failed, in_progress, not_found; leave it out for every execution", clip(q.Get(paramStatus)))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.trackTimeout)
	defer cancel()
	ans := Executions{WorkflowID: workflowID, Executions: []ExecutionSummary{}}
	for calls := 0; ; calls++ {
		page, err := s.backend.Executions(ctx, workflowID, limit-len(ans.Executions), token)
		if err != nil {
			return err
		}
		sums, err := s.summaries(ctx, workflowID, page.Executions)
		if err != nil {
			return err
		}
		for _, sum := range sums {
			if status == "" || sum.Status == status {
				ans.Executions = append(ans.Executions, sum)
			}
		}
		token = page.Next
		if status == "" || token == "" || len(ans.Executions) >= limit || calls+1 == maxFilterCalls {
			break
		}
	}
	if token != "" {
		c := encodeCursor(workflowID, token)
		ans.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, ans)
}
