package placement_test

import (
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// TestConcurrentCompile loads and compiles two specs at the same time, as
// meridian diff does, and checks each model is the one it compiles to
// alone. Run with -race, it shows Load and Compile share no mutable state.
func TestConcurrentCompile(t *testing.T) {
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	writeFleet(t, dirs[0], 12)
	writeFleet(t, dirs[1], 20)
	compile := func(dir string) (*placement.Model, error) {
		spec, err := placement.Load(dir)
		if err != nil {
			return nil, err
		}
		return placement.Compile(spec, regions.Default())
	}

	models := make([]*placement.Model, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() { models[i], errs[i] = compile(dir) })
	}
	wg.Wait()

	for i, dir := range dirs {
		if errs[i] != nil {
			t.Fatalf("%s concurrently: %v", dir, errs[i])
		}
		alone, err := compile(dir)
		if err != nil {
			t.Fatalf("%s alone: %v", dir, err)
		}
		if !reflect.DeepEqual(models[i], alone) {
			t.Errorf("%s: the model compiled concurrently differs from the one compiled alone", dir)
		}
	}
}
