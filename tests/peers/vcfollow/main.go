// Command vcfollow is the reference follower of bench/vcenter.sh: vCenter events followed the way a
// Go program on govmomi does it (a collector's latestPage through property.Wait, page size 1, which
// on this simulator sees every event once), each event POSTed to a sink as a binary CloudEvent by a
// pool of workers, as event-router's knative processor does. It measures what a plain Go
// forwarder achieves on the same machine; it keeps no checkpoint and does not survive a lost
// session.
//
//	vcfollow -url http://127.0.0.1:PORT/sdk -username U -password P -sink http://127.0.0.1:S/ [-workers 64] [-page 1]
//
// Prints one line {"ready":true} once it records, then runs until SIGTERM or stdin EOF.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	sdk := flag.String("url", "", "vCenter SDK URL")
	username := flag.String("username", "user", "")
	password := flag.String("password", "pass", "")
	sink := flag.String("sink", "", "sink URL")
	workers := flag.Int("workers", 64, "concurrent POSTs to the sink")
	page := flag.Int("page", 1, "latestPage size")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		stdinClosed := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
		select {
		case <-signals:
		case <-stdinClosed:
		}
		cancel()
	}()

	u, err := soap.ParseURL(*sdk)
	if err != nil {
		fail("url: %v", err)
	}
	u.User = url.UserPassword(*username, *password)
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		fail("login: %v", err)
	}
	source := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/sdk"}).String()
	m := event.NewManager(c.Client)
	filter := types.EventFilterSpec{
		Entity: &types.EventFilterSpecByEntity{
			Entity:    c.ServiceContent.RootFolder,
			Recursion: types.EventFilterSpecRecursionOptionAll,
		},
		MaxCount: int32(*page),
	}
	collector, err := m.CreateCollectorForEvents(ctx, filter)
	if err != nil {
		fail("collector: %v", err)
	}
	started := time.Now()

	jobs := make(chan types.BaseEvent, 4096)
	transport := &http.Transport{MaxIdleConns: *workers, MaxIdleConnsPerHost: *workers}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	for i := 0; i < *workers; i++ {
		go func() {
			for ev := range jobs {
				forward(client, *sink, source, ev)
			}
		}()
	}

	var last int32
	first := true
	err = property.Wait(ctx, property.DefaultCollector(c.Client), collector.Reference(), []string{"latestPage"},
		func(changes []types.PropertyChange) bool {
			if first { // the initial state: the page as it was before we started
				first = false
				fmt.Println(`{"ready":true}`)
			}
			for _, change := range changes {
				page, ok := change.Val.(types.ArrayOfEvent)
				if !ok {
					continue
				}
				for i := len(page.Event) - 1; i >= 0; i-- { // the page is newest first
					ev := page.Event[i]
					e := ev.GetEvent()
					if e.Key <= last || e.CreatedTime.Before(started) {
						continue
					}
					last = e.Key
					jobs <- ev
				}
			}
			return false
		})
	close(jobs)
	if err != nil && ctx.Err() == nil {
		fail("wait: %v", err)
	}
}

func forward(client *http.Client, sink, source string, ev types.BaseEvent) {
	e := ev.GetEvent()
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	req, err := http.NewRequest(http.MethodPost, sink, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", strconv.Itoa(int(e.Key)))
	req.Header.Set("Ce-Source", source)
	req.Header.Set("Ce-Type", "com.vmware.event.router/event")
	req.Header.Set("Ce-Subject", reflect.TypeOf(ev).Elem().Name())
	req.Header.Set("Ce-Time", e.CreatedTime.UTC().Format(time.RFC3339Nano))
	for attempt := 0; attempt < 5; attempt++ {
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode < 300 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcfollow: "+format+"\n", args...)
	os.Exit(1)
}
