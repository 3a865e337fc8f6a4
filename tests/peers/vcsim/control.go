package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	maxBodyBytes    = 64 << 10
	maxPostMany     = 100000
	maxPostWorkers  = 32
	maxEventsQuery  = 1000 // the simulator keeps only the newest 1000
	maxRestartDown  = 30 * time.Second
	controlDeadline = 60 * time.Second
)

// control is the test-facing HTTP API. Operations are serialised: a restart
// must not interleave with a power operation using the old session.
type control struct {
	vc       *vcenter
	sim      *sim
	mu       sync.Mutex
	shutdown chan struct{}
	once     sync.Once
}

func (c *control) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/vms", c.get(c.handleVMs))
	mux.HandleFunc("/vm/poweroff", c.post(c.vmOp((*vcenter).powerOff)))
	mux.HandleFunc("/vm/poweron", c.post(c.vmOp((*vcenter).powerOn)))
	mux.HandleFunc("/vm/create", c.post(c.vmOp((*vcenter).createVM)))
	mux.HandleFunc("/vm/destroy", c.post(c.vmOp((*vcenter).destroyVM)))
	mux.HandleFunc("/event/post", c.post(c.handlePost))
	mux.HandleFunc("/events/post-many", c.post(c.handlePostMany))
	mux.HandleFunc("/events", c.get(c.handleEvents))
	mux.HandleFunc("/restart", c.post(c.handleRestart))
	mux.HandleFunc("/sessions/terminate", c.post(c.handleTerminateSessions))
	mux.HandleFunc("/shutdown", c.post(c.handleShutdown))
	return mux
}

type handler func(ctx context.Context, r *http.Request) (interface{}, error)

func (c *control) get(h handler) http.HandlerFunc  { return c.serve(http.MethodGet, h) }
func (c *control) post(h handler) http.HandlerFunc { return c.serve(http.MethodPost, h) }

func (c *control) serve(method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), controlDeadline)
		defer cancel()
		c.mu.Lock()
		result, err := h(ctx, r)
		c.mu.Unlock()
		if err != nil {
			writeJSON(w, statusFor(err), map[string]string{"error": err.Error()})
			return
		}
		if result == nil {
			result = map[string]bool{"ok": true}
		}
		writeJSON(w, http.StatusOK, result)
	}
}

type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// statusFor maps failures: 404 unknown VM, 400 bad input, 409 a fault from
// the simulator (e.g. powering off a VM that is already off), 500 otherwise.
func statusFor(err error) int {
	var bad badRequest
	var taskErr task.Error
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.As(err, &bad):
		return http.StatusBadRequest
	case errors.As(err, &taskErr), soap.IsSoapFault(err), soap.IsVimFault(err):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func vmName(r *http.Request) (string, error) {
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > 80 || strings.ContainsAny(name, "/\\") {
		return "", badRequest{"name: 1..80 characters, no slashes"}
	}
	return name, nil
}

func intParam(r *http.Request, key string, def, min, max int) (int, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, badRequest{key + ": integer in " + strconv.Itoa(min) + ".." + strconv.Itoa(max)}
	}
	return n, nil
}

func (c *control) vmOp(op func(*vcenter, context.Context, string) error) handler {
	return func(ctx context.Context, r *http.Request) (interface{}, error) {
		name, err := vmName(r)
		if err != nil {
			return nil, err
		}
		return nil, op(c.vc, ctx, name)
	}
}

func (c *control) handleVMs(ctx context.Context, r *http.Request) (interface{}, error) {
	return c.vc.listVMs(ctx)
}

func (c *control) handlePost(ctx context.Context, r *http.Request) (interface{}, error) {
	var req postRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && err != io.EOF {
		return nil, badRequest{"body: " + err.Error()}
	}
	if req.Kind != "GeneralUserEvent" && req.Kind != "" && req.EventTypeID == "" {
		return nil, badRequest{"eventTypeId is required for " + req.Kind}
	}
	ev, err := c.vc.buildEvent(ctx, req)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return nil, err
		}
		return nil, badRequest{err.Error()}
	}
	return nil, c.vc.postEvent(ctx, ev)
}

func (c *control) handlePostMany(ctx context.Context, r *http.Request) (interface{}, error) {
	count, err := intParam(r, "count", 1000, 1, maxPostMany)
	if err != nil {
		return nil, err
	}
	workers, err := intParam(r, "workers", 4, 1, maxPostWorkers)
	if err != nil {
		return nil, err
	}
	overSDK := r.URL.Query().Get("via") == "sdk"
	var about []types.ManagedObjectReference
	if names := r.URL.Query().Get("vms"); names != "" {
		for _, name := range strings.Split(names, ",") {
			vm, _, err := c.vc.findVM(ctx, name)
			if err != nil {
				return nil, err
			}
			about = append(about, vm.Reference())
		}
	}
	start := time.Now()
	if err := c.vc.postMany(ctx, count, workers, overSDK, about); err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	return map[string]interface{}{"posted": count, "seconds": secs, "perSecond": float64(count) / secs}, nil
}

type wrappedEvent struct {
	Class string      `json:"class"`
	Key   int32       `json:"key"`
	JSON  interface{} `json:"json"`
}

func (c *control) handleEvents(ctx context.Context, r *http.Request) (interface{}, error) {
	max, err := intParam(r, "max", 100, 1, maxEventsQuery)
	if err != nil {
		return nil, err
	}
	events, err := c.vc.newestEvents(ctx, max)
	if err != nil {
		return nil, err
	}
	out := make([]wrappedEvent, 0, len(events))
	for _, ev := range events {
		out = append(out, wrappedEvent{
			Class: reflect.TypeOf(ev).Elem().Name(),
			Key:   ev.GetEvent().Key,
			JSON:  ev,
		})
	}
	return out, nil
}

// handleRestart simulates a vCenter restart: every connection drops, every
// session ends, the port refuses connections for down_ms, then /sdk comes
// back on the same port. The inventory and event history survive, as they
// would in vCenter's database.
func (c *control) handleRestart(ctx context.Context, r *http.Request) (interface{}, error) {
	downMs, err := intParam(r, "down_ms", 0, 0, int(maxRestartDown/time.Millisecond))
	if err != nil {
		return nil, err
	}
	c.sim.stopServing()
	ended, err := c.vc.terminateAllSessions(ctx)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Duration(downMs) * time.Millisecond)
	if err := c.sim.listen(); err != nil {
		return nil, err
	}
	if err := c.vc.connect(ctx); err != nil {
		return nil, err
	}
	return map[string]interface{}{"ok": true, "sessionsEnded": ended}, nil
}

// handleTerminateSessions ends every session (as an administrator's "terminate session", or a
// logout from another session) while /sdk keeps serving; the control client logs in again.
// Clients then get a NotAuthenticated fault on their next call, long polls included.
func (c *control) handleTerminateSessions(ctx context.Context, r *http.Request) (interface{}, error) {
	ended, err := c.vc.terminateAllSessions(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.vc.connect(ctx); err != nil {
		return nil, err
	}
	return map[string]interface{}{"ok": true, "sessionsEnded": ended}, nil
}

func (c *control) handleShutdown(ctx context.Context, r *http.Request) (interface{}, error) {
	c.once.Do(func() { close(c.shutdown) })
	return nil, nil
}
