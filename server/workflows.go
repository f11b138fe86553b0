package server

import (
	"context"
	"net/http"

	"github.com/xflowhq/xflow/config"
	"github.com/xflowhq/xflow/names"
	"github.com/xflowhq/xflow/track"
)

// Query parameters of GET /workflows/{workflow_id}/executions, named as
// the "field" of their errors.
const (
	paramLimit  = "limit"
	paramCursor = "cursor"
)

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

// executions serves GET /workflows/{workflow_id}/executions?limit=&cursor=:
// a page of the workflow's executions, newest first by the time of their
// last event, each with its status.
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
	ctx, cancel := context.WithTimeout(r.Context(), s.trackTimeout)
	defer cancel()
	page, err := s.backend.Executions(ctx, workflowID, limit, token)
	if err != nil {
		return err
	}
	sums, err := s.summaries(ctx, workflowID, page.Executions)
	if err != nil {
		return err
	}
	ans := Executions{WorkflowID: workflowID, Executions: sums}
	if page.Next != "" {
		c := encodeCursor(workflowID, page.Next)
		ans.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, ans)
}
