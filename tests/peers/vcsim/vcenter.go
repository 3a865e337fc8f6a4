package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vcenter drives the simulator the way a user would: through a real govmomi
// client over /sdk, so the simulator emits the same events a real vCenter
// would (VmPoweredOffEvent, VmCreatedEvent, ...). The in-process client
// bypasses HTTP and is used only for bulk posting and for killing sessions
// while the server is down.
type vcenter struct {
	sim *sim

	mu     sync.Mutex
	client *govmomi.Client
	inproc *vim25.Client
}

func newVcenter(ctx context.Context, s *sim) (*vcenter, error) {
	inproc, err := vim25.NewClient(ctx, s.model.Service)
	if err != nil {
		return nil, err
	}
	v := &vcenter{sim: s, inproc: inproc}
	if err := v.connect(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *vcenter) connect(ctx context.Context) error {
	u := v.sim.sdkURL
	u.User = url.UserPassword(v.sim.username, v.sim.password)
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return fmt.Errorf("control client login: %w", err)
	}
	v.mu.Lock()
	v.client = c
	v.mu.Unlock()
	return nil
}

func (v *vcenter) vim() *vim25.Client {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.client.Client
}

type vmInfo struct {
	Name       string `json:"name"`
	PowerState string `json:"powerState"`
	Moref      string `json:"moref"`
}

func (v *vcenter) listVMs(ctx context.Context) ([]vmInfo, error) {
	c := v.vim()
	m := view.NewManager(c)
	cv, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cv.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	if err := cv.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState"}, &vms); err != nil {
		return nil, err
	}
	out := make([]vmInfo, 0, len(vms))
	for _, vm := range vms {
		out = append(out, vmInfo{Name: vm.Name, PowerState: string(vm.Runtime.PowerState), Moref: vm.Self.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var errNotFound = errors.New("not found")

func (v *vcenter) findVM(ctx context.Context, name string) (*object.VirtualMachine, vmInfo, error) {
	vms, err := v.listVMs(ctx)
	if err != nil {
		return nil, vmInfo{}, err
	}
	for _, vm := range vms {
		if vm.Name == name {
			ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: vm.Moref}
			return object.NewVirtualMachine(v.vim(), ref), vm, nil
		}
	}
	return nil, vmInfo{}, fmt.Errorf("vm %q: %w", name, errNotFound)
}

func (v *vcenter) powerOff(ctx context.Context, name string) error {
	vm, _, err := v.findVM(ctx, name)
	if err != nil {
		return err
	}
	task, err := vm.PowerOff(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

func (v *vcenter) powerOn(ctx context.Context, name string) error {
	vm, _, err := v.findVM(ctx, name)
	if err != nil {
		return err
	}
	task, err := vm.PowerOn(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

// createVM places the VM in the first datacenter's VM folder, on its first
// resource pool and datastore: enough for VmCreatedEvent and friends.
func (v *vcenter) createVM(ctx context.Context, name string) error {
	c := v.vim()
	finder := find.NewFinder(c, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	pools, err := finder.ResourcePoolList(ctx, "*")
	if err != nil || len(pools) == 0 {
		return fmt.Errorf("no resource pool: %v", err)
	}
	stores, err := finder.DatastoreList(ctx, "*")
	if err != nil || len(stores) == 0 {
		return fmt.Errorf("no datastore: %v", err)
	}
	spec := types.VirtualMachineConfigSpec{
		Name:     name,
		GuestId:  string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		NumCPUs:  1,
		MemoryMB: 32,
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + stores[0].Name() + "]"},
	}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pools[0], nil)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

// destroyVM powers the VM off first, as vCenter refuses to destroy a running VM.
func (v *vcenter) destroyVM(ctx context.Context, name string) error {
	vm, info, err := v.findVM(ctx, name)
	if err != nil {
		return err
	}
	if info.PowerState == string(types.VirtualMachinePowerStatePoweredOn) {
		task, err := vm.PowerOff(ctx)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return err
		}
	}
	task, err := vm.Destroy(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

type postRequest struct {
	Kind        string `json:"kind"`
	EventTypeID string `json:"eventTypeId"`
	Message     string `json:"message"`
	VM          string `json:"vm"`
}

// buildEvent turns a control request into the event object to post. The
// simulator fills in key, chainId, createdTime and userName.
func (v *vcenter) buildEvent(ctx context.Context, req postRequest) (types.BaseEvent, error) {
	base := types.Event{FullFormattedMessage: req.Message}
	target := v.vim().ServiceContent.RootFolder
	if req.VM != "" {
		vm, _, err := v.findVM(ctx, req.VM)
		if err != nil {
			return nil, err
		}
		target = vm.Reference()
		base.Vm = &types.VmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: req.VM},
			Vm:                  target,
		}
	}
	switch req.Kind {
	case "EventEx":
		ev := &types.EventEx{Event: base, EventTypeId: req.EventTypeID, Message: req.Message, Severity: "info"}
		if req.VM != "" {
			ev.ObjectId, ev.ObjectType, ev.ObjectName = target.Value, target.Type, req.VM
		}
		return ev, nil
	case "ExtendedEvent":
		return &types.ExtendedEvent{
			GeneralEvent:  types.GeneralEvent{Event: base, Message: req.Message},
			EventTypeId:   req.EventTypeID,
			ManagedObject: target,
		}, nil
	case "GeneralUserEvent", "":
		ev := &types.GeneralUserEvent{GeneralEvent: types.GeneralEvent{Event: base, Message: req.Message}}
		if req.VM != "" {
			ev.Entity = &types.ManagedEntityEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: req.VM},
				Entity:              target,
			}
		}
		return ev, nil
	}
	return nil, fmt.Errorf("unknown kind %q (EventEx, ExtendedEvent, GeneralUserEvent)", req.Kind)
}

func (v *vcenter) postEvent(ctx context.Context, ev types.BaseEvent) error {
	return event.NewManager(v.vim()).PostEvent(ctx, ev)
}

// postMany posts count GeneralUserEvents from `workers` goroutines, either
// in-process (fast, no HTTP) or over /sdk like any other client. With VMs in
// about, event i is about VM i % len(about) (its Vm argument), so a client's
// per-object order can be checked.
func (v *vcenter) postMany(ctx context.Context, count, workers int, overSDK bool, about []types.ManagedObjectReference) error {
	c := v.inproc
	if overSDK {
		c = v.vim()
	}
	m := event.NewManager(c)
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				msg := fmt.Sprintf("post-many %d", i)
				ev := &types.GeneralUserEvent{GeneralEvent: types.GeneralEvent{
					Event: types.Event{FullFormattedMessage: msg}, Message: msg}}
				if len(about) > 0 {
					ref := about[i%len(about)]
					ev.Vm = &types.VmEventArgument{Vm: ref}
				}
				// In-process posts bypass /sdk: gate each one here (one call, never nested).
				var err error
				if overSDK {
					err = m.PostEvent(ctx, ev)
				} else {
					postGate.RLock()
					err = m.PostEvent(ctx, ev)
					postGate.RUnlock()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var firstErr error
feed:
	for i := 0; i < count; i++ {
		select {
		case next <- i:
		case firstErr = <-errs:
			break feed
		case <-ctx.Done():
			firstErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		select {
		case firstErr = <-errs:
		default:
		}
	}
	return firstErr
}

// newestEvents returns up to max of the newest events, oldest first, exactly
// as a govmomi client decodes them from /sdk. It always asks for the whole
// ring: this simulator fills a smaller page with the newest event followed
// by the oldest ones, not with the newest N.
func (v *vcenter) newestEvents(ctx context.Context, max int) ([]types.BaseEvent, error) {
	events, err := event.NewManager(v.vim()).QueryEvents(ctx, types.EventFilterSpec{MaxCount: maxEventsQuery})
	if err != nil {
		return nil, err
	}
	sort.Slice(events, func(i, j int) bool { return events[i].GetEvent().Key < events[j].GetEvent().Key })
	if len(events) > max {
		events = events[len(events)-max:]
	}
	return events, nil
}

// terminateAllSessions ends every client session (as a vCenter restart does),
// using the in-process client so it works while /sdk is not listening.
func (v *vcenter) terminateAllSessions(ctx context.Context) (int, error) {
	var sm mo.SessionManager
	pc := property.DefaultCollector(v.inproc)
	if err := pc.RetrieveOne(ctx, *v.inproc.ServiceContent.SessionManager, []string{"sessionList"}, &sm); err != nil {
		return 0, err
	}
	ids := make([]string, 0, len(sm.SessionList))
	for _, s := range sm.SessionList {
		ids = append(ids, s.Key)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return len(ids), session.NewManager(v.inproc).TerminateSession(ctx, ids)
}
