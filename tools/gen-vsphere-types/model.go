package main

// The model of govmomi's vim25 data objects, read by reflection: which types exist, which are
// events, and each one's fields flattened the way encoding/json flattens embedded structs.

import (
	"go/build"
	"io/ioutil"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

var (
	timeType  = reflect.TypeOf(time.Time{})
	morefType = reflect.TypeOf(types.ManagedObjectReference{})
	anyType   = reflect.TypeOf((*types.AnyType)(nil)).Elem()
	eventType = reflect.TypeOf(types.Event{})
)

type field struct {
	JSON, XML  string
	Kind       string // the vsphere_kind suffix: STRING, INT, ...
	Array, Ptr bool
	StructType string
	Type       reflect.Type // the Go type of the field itself
	depth      int
	index      []int
}

type vtype struct {
	Name, Base string
	IsEvent    bool
	Fields     []field
	Go         reflect.Type
}

// registryNames lists every name govmomi's type registry holds: the registry map is unexported,
// so the names come from the package source's `t["Name"] = ...` registrations.
func registryNames() []string {
	pkg, err := build.Import("github.com/vmware/govmomi/vim25/types", "", build.FindOnly)
	if err != nil {
		panic(err)
	}
	re := regexp.MustCompile(`t\["([A-Za-z0-9_]+)"\]\s*=`)
	files, _ := filepath.Glob(filepath.Join(pkg.Dir, "*.go"))
	seen := map[string]bool{}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := ioutil.ReadFile(f)
		if err != nil {
			panic(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				names = append(names, m[1])
			}
		}
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (reflect.Type, bool) {
	t, ok := types.TypeFunc()(name)
	if !ok || t.Kind() != reflect.Struct || t.Name() != name { // if.go aliases BaseX to X
		return nil, false
	}
	return t, true
}

func embedsEvent(t reflect.Type) bool {
	for t.Kind() == reflect.Struct {
		if t == eventType {
			return true
		}
		if t.NumField() == 0 || !t.Field(0).Anonymous {
			return false
		}
		t = t.Field(0).Type
	}
	return false
}

func baseName(t reflect.Type) string {
	if t.NumField() > 0 && t.Field(0).Anonymous && t.Field(0).Type.Kind() == reflect.Struct {
		return t.Field(0).Type.Name()
	}
	return ""
}

// classify maps a Go field type to the table's kind.
func classify(f *field, t reflect.Type) {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		f.Kind = "BYTES"
		return
	}
	if t.Kind() == reflect.Slice {
		f.Array = true
		t = t.Elem()
	}
	if t.Kind() == reflect.Ptr {
		f.Ptr = true
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		f.Kind = "BYTES"
	case t == timeType:
		f.Kind = "TIME"
	case t == morefType:
		f.Kind = "MOREF"
	case t.Kind() == reflect.Struct:
		f.Kind, f.StructType = "STRUCT", t.Name()
	case t.Kind() == reflect.Interface && t != anyType && strings.HasPrefix(t.Name(), "Base"):
		// A BaseX interface holds a *X or a subclass; Go marshals nil as null.
		f.Kind, f.StructType, f.Ptr = "STRUCT", strings.TrimPrefix(t.Name(), "Base"), true
	case t.Kind() == reflect.Interface:
		f.Kind = "ANY"
	case t.Kind() == reflect.String:
		f.Kind = "STRING"
	case t.Kind() == reflect.Bool:
		f.Kind = "BOOL"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		f.Kind = "INT"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		f.Kind = "FLOAT"
	default:
		panic("unsupported field type " + t.String())
	}
}

func collect(t reflect.Type, depth int, index []int, out *[]field) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int{}, index...), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			collect(sf.Type, depth+1, idx, out)
			continue
		}
		if sf.PkgPath != "" { // unexported: encoding/json skips it
			continue
		}
		xmlName := strings.Split(sf.Tag.Get("xml"), ",")[0]
		if xmlName == "-" {
			xmlName = ""
		} else if xmlName == "" {
			xmlName = sf.Name
		}
		f := field{JSON: sf.Name, XML: xmlName, Type: sf.Type, depth: depth, index: idx}
		classify(&f, sf.Type)
		*out = append(*out, f)
	}
}

// flatten applies encoding/json's rules: fields in index order; for a name that occurs more than
// once the shallowest wins, and a tie at the shallowest depth drops the name altogether.
func flatten(t reflect.Type) []field {
	var all []field
	collect(t, 0, nil, &all)
	byName := map[string][]int{}
	for i, f := range all {
		byName[f.JSON] = append(byName[f.JSON], i)
	}
	var out []field
	for _, f := range all {
		idxs := byName[f.JSON]
		if len(idxs) == 1 {
			out = append(out, f)
			continue
		}
		min, count := 1<<30, 0
		for _, j := range idxs {
			if all[j].depth < min {
				min, count = all[j].depth, 1
			} else if all[j].depth == min {
				count++
			}
		}
		if f.depth == min && count == 1 {
			out = append(out, f)
		}
	}
	return out
}

// implementers lists registry structs whose pointer implements the interface BaseX.
func implementers(iface reflect.Type, names []string) []string {
	var out []string
	for _, n := range names {
		if t, ok := lookup(n); ok && reflect.PtrTo(t).Implements(iface) {
			out = append(out, n)
		}
	}
	return out
}

// buildModel returns the events, every struct reachable from their fields (including every
// implementer of an interface-typed field, since the XML may carry any subclass), and the
// ArrayOfX wrappers of simple values that AnyType values use.
func buildModel() []*vtype {
	names := registryNames()
	model := map[string]*vtype{}
	var queue []string
	add := func(n string) {
		if _, ok := model[n]; ok {
			return
		}
		t, ok := lookup(n)
		if !ok {
			return
		}
		model[n] = &vtype{Name: n, Base: baseName(t), IsEvent: embedsEvent(t), Go: t}
		queue = append(queue, n)
	}
	for _, n := range names {
		if t, ok := lookup(n); ok && embedsEvent(t) {
			add(n)
		}
		if t, ok := lookup(n); ok && strings.HasPrefix(n, "ArrayOf") && t.NumField() == 1 {
			k := t.Field(0).Type
			if k.Kind() == reflect.Slice && (k.Elem().Kind() != reflect.Struct || k.Elem() == morefType || k.Elem() == timeType) && k.Elem().Kind() != reflect.Interface {
				add(n)
			}
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		vt := model[n]
		vt.Fields = flatten(vt.Go)
		if vt.Base != "" {
			add(vt.Base)
		}
		for _, f := range vt.Fields {
			if f.Kind != "STRUCT" {
				continue
			}
			add(f.StructType)
			elem := f.Type
			if elem.Kind() == reflect.Slice {
				elem = elem.Elem()
			}
			if elem.Kind() == reflect.Interface {
				for _, impl := range implementers(elem, names) {
					add(impl)
				}
			}
		}
	}
	var out []*vtype
	for _, vt := range model {
		out = append(out, vt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
