package driver

import (
	"testing"

	"github.com/meridian-deploy/meridian/placement"
)

func TestExpand(t *testing.T) {
	tgt := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1", Cell: "c7"}
	got := Expand("{service}-{environment}/{boundary}/{region}/{cell}/{unknown}", tgt)
	if want := "billing-prod/us-gov/us-gov-west-1/c7/{unknown}"; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
}
