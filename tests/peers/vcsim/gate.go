package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
)

// postGate works around a lock-order deadlock in govmomi 0.24's simulator:
// EventManager.PostEvent holds the event manager's lock and then locks every
// event collector, while EventHistoryCollector.DestroyCollector (and
// SetCollectorPageSize) is called with its collector locked and then locks the
// event manager. A client destroying a collector while events are posted can
// hang both for ever. So those two calls run alone: they take the gate
// exclusively, and every other /sdk call (each may post an event: Login,
// Logout, PostEvent) and each in-process post takes it shared. Long polls
// (WaitForUpdatesEx, WaitForUpdates) post nothing and stay outside, or one
// would hold a destroy back for its whole wait. Events posted by the
// simulator's own task goroutines (VM power operations) are not gated.
var postGate sync.RWMutex

// exclusiveCalls lock a collector and then the event manager.
var exclusiveCalls = []string{"<DestroyCollector", "<SetCollectorPageSize"}
var ungatedCalls = []string{"<WaitForUpdatesEx", "<WaitForUpdates"}

const maxGatedBody = 16 << 20

func gated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxGatedBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		text := string(body)
		switch {
		case containsAny(text, ungatedCalls):
		case containsAny(text, exclusiveCalls):
			postGate.Lock()
			defer postGate.Unlock()
		default:
			postGate.RLock()
			defer postGate.RUnlock()
		}
		next.ServeHTTP(w, r)
	})
}

func containsAny(text string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(text, n) {
			return true
		}
	}
	return false
}
