package driver

import "testing"

func TestExpand(t *testing.T) {
	tgt := Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1", Cell: "c7"}
	got := Expand("{service}-{environment}/{boundary}/{region}/{cell}/{unknown}", tgt)
	if want := "billing-prod/us-gov/us-gov-west-1/c7/{unknown}"; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
}

func TestImageRepository(t *testing.T) {
	for image, want := range map[string]string{
		"registry.example.com/billing:v2":               "registry.example.com/billing",
		"registry.example.com:5000/billing":             "registry.example.com:5000/billing",
		"registry.example.com:5000/billing:v2@sha256:0": "registry.example.com:5000/billing",
		"billing": "billing",
	} {
		if got := ImageRepository(image); got != want {
			t.Errorf("ImageRepository(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestContainer(t *testing.T) {
	images := []string{"r/sidecar:1", "r/app:v1"}
	names := []string{"sidecar", "main"}
	for _, tc := range []struct {
		name              string
		images, names     []string
		repository, named string
		want              int
		ok                bool
	}{
		{"runs the repository", images, names, "r/app", "", 1, true},
		{"named", images, names, "r/other", "main", 1, true},
		{"named but absent", images, names, "r/other", "web", 0, false},
		{"only one", images[:1], names[:1], "r/other", "", 0, true},
		{"several, none named", images, names, "r/other", "", 0, false},
	} {
		i, ok := Container(tc.images, tc.names, tc.repository, tc.named)
		if i != tc.want || ok != tc.ok {
			t.Errorf("%s: Container = %d, %v; want %d, %v", tc.name, i, ok, tc.want, tc.ok)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for image, want := range map[string][2]string{
		"registry.example.com/billing:v2":              {"registry.example.com/billing", "v2"},
		"registry.example.com/billing:v2@sha256:abc":   {"registry.example.com/billing", "v2"},
		"registry.example.com:5000/billing":            {"registry.example.com:5000/billing", ""},
		"registry.example.com:5000/billing@sha256:abc": {"registry.example.com:5000/billing", ""},
		"billing": {"billing", ""},
	} {
		if repo, tag := SplitImage(image); repo != want[0] || tag != want[1] {
			t.Errorf("SplitImage(%q) = %q, %q; want %q, %q", image, repo, tag, want[0], want[1])
		}
	}
}

func TestParseID(t *testing.T) {
	for _, want := range []Target{
		{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1", Cell: "c7"},
		{Service: "billing", Environment: "prod", Cloud: "gcp", Boundary: "public", Region: "europe-west3"},
	} {
		if got, ok := ParseID(want.ID()); !ok || got != want {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", want.ID(), got, ok, want)
		}
	}
	for _, id := range []string{"", "a/b/c/d", "a/b/c/d/e/f/g", "a//c/d/e"} {
		if _, ok := ParseID(id); ok {
			t.Errorf("ParseID(%q) succeeded", id)
		}
	}
}

func TestScopeContains(t *testing.T) {
	tgt := Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1"}
	for _, tc := range []struct {
		scope Scope
		want  bool
	}{
		{Scope{Cloud: "aws", Boundary: "public", Region: "us-east-1"}, true},
		{Scope{Cloud: "aws", Boundary: "public", Region: "us-east-1", Service: "billing", Environment: "prod"}, true},
		{Scope{Cloud: "aws", Boundary: "public", Region: "us-east-1", Service: "ledger"}, false},
		{Scope{Cloud: "aws", Boundary: "public", Region: "us-east-1", Environment: "dev"}, false},
		{Scope{Cloud: "aws", Boundary: "us-gov", Region: "us-east-1"}, false},
		{Scope{Cloud: "aws", Boundary: "public", Region: "us-west-2"}, false},
	} {
		if got := tc.scope.Contains(tgt); got != tc.want {
			t.Errorf("%+v.Contains = %v, want %v", tc.scope, got, tc.want)
		}
	}
}
