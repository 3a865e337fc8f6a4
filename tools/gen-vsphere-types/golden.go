package main

// Golden fixtures: for every event class, a deterministic populated instance is marshalled to
// SOAP XML with govmomi's own encoder, decoded back with govmomi's decoder (as a Go client
// would receive it) and that value marshalled with encoding/json: the data VEBA functions see.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

type filler struct {
	seed  int
	names []string
}

func (g *filler) next() int { g.seed++; return g.seed }

var baseTime = time.Date(2024, 3, 5, 6, 7, 8, 123456789, time.UTC)

func (g *filler) anyValue() interface{} {
	n := g.next()
	switch n % 8 {
	case 0:
		return fmt.Sprintf("any-%d <&>", n)
	case 1:
		return int32(n)
	case 2:
		return int64(1)<<40 + int64(n)
	case 3:
		return n%2 == 0
	case 4:
		return types.ManagedObjectReference{Type: "VirtualMachine", Value: fmt.Sprintf("vm-%d", n)}
	case 5:
		return types.ArrayOfString{String: []string{"a", fmt.Sprintf("b%d", n)}}
	case 6:
		return types.ArrayOfInt{Int: []int32{int32(n), -1}}
	default:
		return float64(n) + 0.25
	}
}

// fill sets every field of v; depth bounds recursive types (faults nest faults).
func (g *filler) fill(v reflect.Value, depth int) {
	t := v.Type()
	if k := t.Kind(); k != reflect.Ptr && k != reflect.Slice && k != reflect.Interface && depth > 0 && g.seed%11 == 10 {
		g.seed++
		return // a zero value: absent (omitempty) or written as zero on the wire
	}
	switch {
	case t == timeType:
		n := g.next()
		tm := baseTime.Add(time.Duration(n) * time.Hour)
		if n%3 == 0 {
			tm = tm.Truncate(time.Millisecond) // trailing zeros of the fraction
		} else if n%3 == 1 {
			tm = tm.Truncate(time.Second)
		}
		v.Set(reflect.ValueOf(tm))
		return
	case t == morefType:
		n := g.next()
		v.Set(reflect.ValueOf(types.ManagedObjectReference{Type: "HostSystem", Value: fmt.Sprintf("host-%d", n)}))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).PkgPath == "" {
				g.fill(v.Field(i), depth)
			}
		}
	case reflect.Ptr:
		n := g.next()
		if depth > 3 || n%4 == 0 {
			return // a nil pointer
		}
		p := reflect.New(t.Elem())
		g.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		n := g.next()
		if t.Elem().Kind() == reflect.Uint8 {
			// vCenter sends base64 text; govmomi keeps those characters as the bytes.
			v.SetBytes([]byte(fmt.Sprintf("AAEC%04d", n)))
			return
		}
		if depth > 3 || n%5 == 0 {
			return // nil
		}
		s := reflect.MakeSlice(t, 1+n%2, 1+n%2)
		for i := 0; i < s.Len(); i++ {
			g.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Interface:
		n := g.next()
		if t == anyType || !strings.HasPrefix(t.Name(), "Base") {
			v.Set(reflect.ValueOf(g.anyValue()))
			return
		}
		if depth > 3 || n%4 == 0 {
			return
		}
		impls := implementers(t, g.names)
		choice := strings.TrimPrefix(t.Name(), "Base")
		if n%2 == 1 && len(impls) > 1 {
			choice = impls[n%len(impls)] // a subclass, to exercise xsi:type polymorphism
		}
		ct, _ := lookup(choice)
		p := reflect.New(ct)
		g.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.String:
		n := g.next()
		if n%6 == 0 {
			v.SetString(fmt.Sprintf("%s-%d \"q\" <&> é", strings.ToLower(t.Name()), n))
		} else {
			v.SetString(fmt.Sprintf("s%d", n))
		}
	case reflect.Bool:
		v.SetBool(g.next()%2 == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32:
		v.SetInt(int64(g.next()%100) - 7)
	case reflect.Int, reflect.Int64:
		n := g.next()
		if n%7 == 0 {
			v.SetInt(9007199254740993) // 2^53+1: must survive exactly
		} else {
			v.SetInt(int64(1)<<35 + int64(n))
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(g.next()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(g.next()) + 0.5)
	default:
		panic("cannot fill " + t.String())
	}
}

type responseBody struct {
	XMLName xml.Name `xml:"urn:vim25 ReadNextEventsResponse"`
	types.ReadNextEventsResponse
}

func writeGoldens(dir string, model []*vtype) error {
	g := &filler{names: registryNames()}
	var events []types.BaseEvent
	var classes []string
	for _, vt := range model {
		if !vt.IsEvent {
			continue
		}
		p := reflect.New(vt.Go)
		g.fill(p.Elem(), 0)
		be, ok := p.Interface().(types.BaseEvent)
		if !ok {
			return fmt.Errorf("%s is not a BaseEvent", vt.Name)
		}
		events = append(events, be)
		classes = append(classes, vt.Name)
	}
	body, err := xml.Marshal(responseBody{ReadNextEventsResponse: types.ReadNextEventsResponse{Returnval: events}})
	if err != nil {
		return err
	}
	// Decode as a govmomi client does, and take the JSON of what it decoded.
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	var decoded types.ReadNextEventsResponse
	if err := dec.Decode(&decoded); err != nil {
		return err
	}
	if len(decoded.Returnval) != len(events) {
		return fmt.Errorf("decoded %d events of %d", len(decoded.Returnval), len(events))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	envelope := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		string(body) + "</soapenv:Body></soapenv:Envelope>\n"
	if err := os.WriteFile(filepath.Join(dir, "events.xml"), []byte(envelope), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, be := range decoded.Returnval {
		class := reflect.TypeOf(be).Elem().Name()
		if class != classes[i] {
			return fmt.Errorf("event %d decoded as %s, not %s", i, class, classes[i])
		}
		data, err := json.Marshal(be)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "{\"class\":%q,\"data\":%s}\n", class, data)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	sort.Strings(classes)
	return f.Close()
}
