package main

// A capture from a real SOAP peer: govmomi's simulator (vcsim) emits events for some VM power
// operations; the raw QueryEvents response is kept with the JSON of what govmomi decoded from it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net/http"
	"os"
	"path/filepath"
	"reflect"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type recorder struct {
	next http.RoundTripper
	last []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err == nil {
		r.last, err = ioutil.ReadAll(res.Body)
		res.Body.Close()
		res.Body = ioutil.NopCloser(bytes.NewReader(r.last))
	}
	return res, err
}

func writeVcsimCapture(dir string) error {
	model := simulator.VPX()
	defer model.Remove()
	if err := model.Create(); err != nil {
		return err
	}
	server := model.Service.NewServer()
	defer server.Close()
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		return err
	}
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "DC0_H0_VM0")
	if err != nil {
		return err
	}
	for _, op := range []func(context.Context) (interface{ Wait(context.Context) error }, error){
		func(ctx context.Context) (interface{ Wait(context.Context) error }, error) { return vm.PowerOff(ctx) },
		func(ctx context.Context) (interface{ Wait(context.Context) error }, error) { return vm.PowerOn(ctx) },
	} {
		task, err := op(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return err
		}
	}
	rec := &recorder{next: c.Client.Client.Transport}
	c.Client.Client.Transport = rec
	events, err := event.NewManager(c.Client).QueryEvents(ctx, types.EventFilterSpec{MaxCount: 100})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "vcsim-events.xml"), rec.last, 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(&out, "{\"class\":%q,\"data\":%s}\n", reflect.TypeOf(e).Elem().Name(), data)
	}
	return os.WriteFile(filepath.Join(dir, "vcsim-events.jsonl"), out.Bytes(), 0o644)
}
