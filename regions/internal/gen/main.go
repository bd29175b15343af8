// Command gen builds regions/catalog.json from the region facts in the shared
// data directory (../shared/data from the repository root). Run it through
// `go generate ./regions`; the package's tests regenerate the catalog in
// memory and fail when the committed file is stale.
//
// Facts the data files do not state come from small hand-written tables in
// tables.go, each naming its source; catalog.json records, for every region
// and boundary, which source each fact came from.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	data := flag.String("data", "../../shared/data", "directory holding the shared region facts")
	out := flag.String("out", "catalog.json", "file to write")
	flag.Parse()
	b, err := generate(os.DirFS(*data))
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
