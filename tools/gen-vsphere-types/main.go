// Command gen-vsphere-types generates event-router's table of vSphere data object types from
// govmomi's vim25/types (by reflection), and the golden fixtures the converter is tested on.
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go run ./tools/gen-vsphere-types -types engine/sources/vcenter/vsphere_types.c
//	GOPATH=/usr/share/gocode GO111MODULE=off go run ./tools/gen-vsphere-types -golden tests/fixtures/vsphere-events
//	GOPATH=/usr/share/gocode GO111MODULE=off go run ./tools/gen-vsphere-types -vcsim tests/fixtures/vsphere-events
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	typesOut := flag.String("types", "", "write the C type table to this file")
	goldenDir := flag.String("golden", "", "write golden XML/JSON fixtures into this directory")
	vcsimDir := flag.String("vcsim", "", "capture events from govmomi's simulator into this directory")
	flag.Parse()
	if *typesOut == "" && *goldenDir == "" && *vcsimDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	model := buildModel()
	if *typesOut != "" {
		if err := writeTable(*typesOut, model); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *vcsimDir != "" {
		if err := writeVcsimCapture(*vcsimDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *goldenDir != "" {
		if err := writeGoldens(*goldenDir, model); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
