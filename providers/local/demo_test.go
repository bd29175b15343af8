package local

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// TestDemoSpec checks the contract between testdata/demo and this
// provider: every service runs on the local cloud from an image that
// resolves to meridian-demo, the sharded service has at least 8 instances
// per target, and a service deploys from its compiled model, with its
// config applied and its gates passing.
func TestDemoSpec(t *testing.T) {
	spec, err := placement.Load("../../testdata/demo")
	if err != nil {
		t.Fatal(err)
	}
	model, err := placement.Compile(spec, regions.Default())
	if err != nil {
		t.Fatal(err)
	}
	p := newDriver(t, t.TempDir())
	defer p.Close()
	var sharded *placement.Service
	for i, svc := range model.Services {
		if _, err := p.binary(svc.Artifact.Image); err != nil {
			t.Errorf("service %s: %v", svc.Name, err)
		}
		for _, tgt := range svc.Targets {
			if tgt.Cloud != "local" {
				t.Errorf("service %s has a target on %s", svc.Name, tgt.Cloud)
			}
		}
		if svc.Sharding != nil {
			sharded = &model.Services[i]
		}
	}
	if sharded == nil || sharded.Instances < 8 {
		t.Fatalf("the demo needs a sharded service with at least 8 instances per target, have %+v", sharded)
	}

	svc := model.Services[0]
	tgt := svc.Targets[0]
	ctx := context.Background()
	prov := providers.New(p, nil)
	dep, err := prov.Deploy(ctx, providers.DeployRequest{Target: tgt, Image: svc.Artifact.Image, Version: "v1", Instances: svc.Instances, Sharding: svc.Sharding})
	if err != nil {
		t.Fatal(err)
	}
	await(t, "the service", func() bool {
		st, err := prov.Status(ctx, tgt, dep.Revision)
		return err == nil && st.State == driver.StateReady
	})
	data, err := json.Marshal(svc.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := prov.ApplyConfig(ctx, providers.ConfigRequest{Target: tgt, Version: "c1", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	await(t, "the service config", func() bool {
		st, err := prov.ConfigStatus(ctx, tgt, cfg.Revision)
		return err == nil && st.State == driver.StateReady
	})
	for _, g := range svc.Gates {
		if obs, err := prov.EvaluateGate(ctx, tgt, g); err != nil || obs.Health != driver.Healthy {
			t.Fatalf("gate %s on %s (%s): %+v, %v", g.Name, tgt.ID(), dep.Revision, obs, err)
		}
	}
}
