package azurefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"
)

// app is one container app and its revisions, oldest first.
type app struct {
	id, name, location string
	sub                string
	tags               map[string]*string
	mode               armappcontainers.ActiveRevisionsMode
	ingress            *armappcontainers.Ingress
	template           *armappcontainers.Template
	provisioning       armappcontainers.ContainerAppProvisioningState
	revisions          []*revision
	// deleting counts the reads of an app being deleted that still find it
	// (Deleting); the deletion proceeds whether or not its operation is polled.
	deleting int
}

// revision is one revision of an app and how far it has rolled out.
type revision struct {
	name     string
	template *armappcontainers.Template
	created  time.Time
	active   bool
	replicas int32
	failed   bool   // the image was told to fail
	reason   string // the provisioning error once it failed
	done     bool   // provisioned and running (or failed)
}

// operation is a long-running update of an app: it answers polls more
// polls in progress, then marks the app's provisioning Succeeded.
type operation struct {
	polls    int
	app      *app
	location string    // the Location URL polled for its result
	failure  *apiError // how the operation ends, nil for success
	// remove, set on a deletion, forgets the app once the operation is done.
	remove func()
}

// poll advances the operation and reports whether it is done.
func (op *operation) poll() bool {
	if op.polls > 0 {
		op.polls--
		return false
	}
	if op.remove != nil {
		op.remove()
		op.remove = nil
		return true
	}
	if op.app.provisioning != armappcontainers.ContainerAppProvisioningStateDeleting {
		op.app.provisioning = armappcontainers.ContainerAppProvisioningStateSucceeded
	}
	return true
}

// FailNextUpdate makes the next app update's long-running operation end
// Failed with Azure's error code and message, having changed nothing.
func (s *Server) FailNextUpdate(code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failUpdate = errorf(http.StatusBadRequest, code, "%s", message)
}

// PollViaLocation makes later app updates answer with a Location header
// only (polled for 202 until the result), instead of Azure-AsyncOperation.
func (s *Server) PollViaLocation(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locationOnly = on
}

func appKey(sub, rg, name string) string {
	return strings.ToLower(sub + "/" + rg + "/" + name)
}

// CreateApp creates a container app in single-revision mode with external
// ingress sending all traffic to the latest revision, whose one container
// (named after the app) runs image with minReplicas; its first revision,
// "<name>--bootstrap", is already running. It returns the app's resource id.
func (s *Server) CreateApp(sub, rg, name, location, image string, minReplicas int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &app{
		id:       fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/containerApps/%s", sub, rg, name),
		name:     name,
		location: location,
		sub:      sub,
		tags:     map[string]*string{},
		mode:     armappcontainers.ActiveRevisionsModeSingle,
		ingress: &armappcontainers.Ingress{
			External:   to.Ptr(true),
			TargetPort: to.Ptr[int32](8080),
			Traffic:    []*armappcontainers.TrafficWeight{{LatestRevision: to.Ptr(true), Weight: to.Ptr[int32](100)}},
		},
		template: &armappcontainers.Template{
			RevisionSuffix: to.Ptr("bootstrap"),
			Containers:     []*armappcontainers.Container{{Name: to.Ptr(name), Image: to.Ptr(image)}},
			Scale:          &armappcontainers.Scale{MinReplicas: to.Ptr(int32(minReplicas)), MaxReplicas: to.Ptr[int32](10)},
		},
		provisioning: armappcontainers.ContainerAppProvisioningStateSucceeded,
	}
	rev := a.newRevision(a.name+"--bootstrap", s.failImage)
	rev.done, rev.replicas = true, a.desired()
	s.apps[appKey(sub, rg, name)] = a
	return a.id
}

// FailImage makes every later revision that runs image fail to start.
func (s *Server) FailImage(image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failImage[image] = true
}

// App returns the container app as Resource Manager reports it.
func (s *Server) App(sub, rg, name string) (armappcontainers.ContainerApp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appKey(sub, rg, name)]
	if a == nil {
		return armappcontainers.ContainerApp{}, false
	}
	return a.json(), true
}

// AppTraffic returns the app's traffic weights by revision name, resolving
// latestRevision entries.
func (s *Server) AppTraffic(sub, rg, name string) map[string]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appKey(sub, rg, name)]
	if a == nil {
		return nil
	}
	out := map[string]int32{}
	for _, tw := range a.ingress.Traffic {
		out[a.resolve(tw)] += *tw.Weight
	}
	return out
}

// desired is how many replicas a revision of the app runs when ready.
func (a *app) desired() int32 {
	if a.template.Scale != nil && a.template.Scale.MinReplicas != nil && *a.template.Scale.MinReplicas > 0 {
		return *a.template.Scale.MinReplicas
	}
	return 1
}

func (a *app) newRevision(name string, failImage map[string]bool) *revision {
	tmpl := clone(a.template)
	rev := &revision{name: name, template: tmpl, created: time.Now().UTC(), active: true}
	for _, c := range tmpl.Containers {
		if c.Image != nil && failImage[*c.Image] {
			rev.failed = true
			rev.reason = fmt.Sprintf("Container '%s' was terminated with exit code '1': back-off restarting failed container (image %s)", *c.Name, *c.Image)
		}
	}
	if a.mode != armappcontainers.ActiveRevisionsModeMultiple {
		for _, r := range a.revisions {
			r.active = false
		}
	}
	a.revisions = append(a.revisions, rev)
	return rev
}

func (a *app) revision(name string) *revision {
	for _, r := range a.revisions {
		if strings.EqualFold(r.name, name) {
			return r
		}
	}
	return nil
}

// latestReady is the newest revision that finished rolling out healthy.
func (a *app) latestReady() string {
	for i := len(a.revisions) - 1; i >= 0; i-- {
		if r := a.revisions[i]; r.done && !r.failed {
			return r.name
		}
	}
	return ""
}

// resolve names the revision a traffic weight sends to.
func (a *app) resolve(tw *armappcontainers.TrafficWeight) string {
	if tw.RevisionName != nil {
		return *tw.RevisionName
	}
	if ready := a.latestReady(); ready != "" {
		return ready
	}
	return a.revisions[len(a.revisions)-1].name
}

func (a *app) weight(rev string) int32 {
	var w int32
	for _, tw := range a.ingress.Traffic {
		if strings.EqualFold(a.resolve(tw), rev) {
			w += *tw.Weight
		}
	}
	return w
}

// advance moves a revision one step: one more replica until all run, or
// to failed for an image told to fail.
func (r *revision) advance(desired int32) {
	switch {
	case r.done:
	case r.failed:
		r.done, r.replicas = true, 0
	case r.replicas < desired:
		r.replicas++
	default:
		r.done = true
	}
}

func (a *app) json() armappcontainers.ContainerApp {
	latest := a.revisions[len(a.revisions)-1].name
	return armappcontainers.ContainerApp{
		ID:       to.Ptr(a.id),
		Name:     to.Ptr(a.name),
		Type:     to.Ptr("Microsoft.App/containerApps"),
		Location: to.Ptr(a.location),
		Tags:     a.tags,
		Properties: &armappcontainers.ContainerAppProperties{
			Configuration: &armappcontainers.Configuration{
				ActiveRevisionsMode: to.Ptr(a.mode),
				Ingress:             a.ingress,
			},
			Template:                a.template,
			ProvisioningState:       to.Ptr(a.provisioning),
			LatestRevisionName:      to.Ptr(latest),
			LatestReadyRevisionName: to.Ptr(a.latestReady()),
			RunningStatus:           to.Ptr(armappcontainers.ContainerAppRunningStatusRunning),
		},
	}
}

func (a *app) revisionJSON(r *revision) armappcontainers.Revision {
	p := &armappcontainers.RevisionProperties{
		Active:        to.Ptr(r.active),
		CreatedTime:   to.Ptr(r.created),
		Template:      r.template,
		Replicas:      to.Ptr(r.replicas),
		TrafficWeight: to.Ptr(a.weight(r.name)),
	}
	switch {
	case r.done && r.failed:
		p.ProvisioningState = to.Ptr(armappcontainers.RevisionProvisioningStateFailed)
		p.HealthState = to.Ptr(armappcontainers.RevisionHealthStateUnhealthy)
		p.RunningState = to.Ptr(armappcontainers.RevisionRunningStateFailed)
		p.ProvisioningError = to.Ptr(r.reason)
	case !r.active:
		p.ProvisioningState = to.Ptr(armappcontainers.RevisionProvisioningStateDeprovisioned)
		p.HealthState = to.Ptr(armappcontainers.RevisionHealthStateNone)
		p.RunningState = to.Ptr(armappcontainers.RevisionRunningStateStopped)
		p.Replicas = to.Ptr[int32](0)
	case r.done:
		p.ProvisioningState = to.Ptr(armappcontainers.RevisionProvisioningStateProvisioned)
		p.HealthState = to.Ptr(armappcontainers.RevisionHealthStateHealthy)
		p.RunningState = to.Ptr(armappcontainers.RevisionRunningStateRunning)
	case r.replicas == 0:
		p.ProvisioningState = to.Ptr(armappcontainers.RevisionProvisioningStateProvisioning)
		p.HealthState = to.Ptr(armappcontainers.RevisionHealthStateNone)
		p.RunningState = to.Ptr(armappcontainers.RevisionRunningStateProcessing)
	default:
		p.ProvisioningState = to.Ptr(armappcontainers.RevisionProvisioningStateProvisioned)
		p.HealthState = to.Ptr(armappcontainers.RevisionHealthStateNone)
		p.RunningState = to.Ptr(armappcontainers.RevisionRunningStateProcessing)
	}
	return armappcontainers.Revision{
		ID:         to.Ptr(a.id + "/revisions/" + r.name),
		Name:       to.Ptr(r.name),
		Type:       to.Ptr("Microsoft.App/containerApps/revisions"),
		Properties: p,
	}
}

// serveContainerApps serves apps and their revisions. path is lowercased:
// /subscriptions/{s}/resourcegroups/{rg}/providers/microsoft.app/containerapps/{app}[/revisions[/{rev}[/{action}]]]
func (s *Server) serveContainerApps(w http.ResponseWriter, r *http.Request, path string, body []byte) (int, any, *apiError) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 8 || parts[0] != "subscriptions" || parts[2] != "resourcegroups" {
		return 0, nil, errorf(http.StatusBadRequest, "InvalidResourceId", "malformed path %s", r.URL.Path)
	}
	key := appKey(parts[1], parts[3], parts[7])
	a := s.apps[key]
	switch {
	case a == nil && len(parts) == 8 && r.Method == http.MethodDelete:
		return http.StatusNoContent, nil, nil // Resource Manager: deleting what is gone succeeds
	case a == nil && len(parts) == 8 && r.Method == http.MethodPut:
		return s.createApp(w, r, parts, body)
	}
	if a != nil && a.provisioning == armappcontainers.ContainerAppProvisioningStateDeleting && r.Method == http.MethodGet {
		if a.deleting--; a.deleting < 0 {
			delete(s.apps, key)
			a = nil
		}
	}
	if a == nil {
		return 0, nil, errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.App/containerApps/%s' under resource group '%s' was not found.", parts[7], parts[3])
	}
	rest := parts[8:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		return http.StatusOK, a.json(), nil
	case len(rest) == 0 && a.provisioning == armappcontainers.ContainerAppProvisioningStateDeleting && r.Method != http.MethodDelete:
		return 0, nil, errorf(http.StatusConflict, "ContainerAppOperationInProgress", "container app '%s' is being deleted", a.name)
	case len(rest) == 0 && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		return s.updateApp(w, r, a, body)
	case len(rest) == 0 && r.Method == http.MethodDelete:
		return s.deleteApp(w, a, key)
	case len(rest) == 1 && rest[0] == "revisions" && r.Method == http.MethodGet:
		var list []*armappcontainers.Revision
		for _, rev := range a.revisions {
			rev.advance(a.desired())
			j := a.revisionJSON(rev)
			list = append(list, &j)
		}
		return http.StatusOK, armappcontainers.RevisionCollection{Value: list}, nil
	case len(rest) >= 2 && rest[0] == "revisions":
		rev := a.revision(rest[1])
		if rev == nil {
			return 0, nil, errorf(http.StatusNotFound, "ContainerAppRevisionNotFound", "revision '%s' of container app '%s' was not found", rest[1], a.name)
		}
		switch {
		case len(rest) == 2 && r.Method == http.MethodGet:
			rev.advance(a.desired())
			return http.StatusOK, a.revisionJSON(rev), nil
		case len(rest) == 3 && r.Method == http.MethodPost && rest[2] == "activate":
			if !rev.active {
				rev.active, rev.done, rev.replicas = true, false, 0
			}
			return http.StatusOK, nil, nil
		case len(rest) == 3 && r.Method == http.MethodPost && rest[2] == "deactivate":
			rev.active = false
			return http.StatusOK, nil, nil
		}
	}
	return 0, nil, errorf(http.StatusMethodNotAllowed, "UnsupportedOperation", "%s %s is not supported", r.Method, r.URL.Path)
}

// updateApp applies a PUT or PATCH (JSON merge patch) of an app: a changed
// template makes a new revision; traffic is validated against the
// revisions. The answer starts a long-running operation.
func (s *Server) updateApp(w http.ResponseWriter, r *http.Request, a *app, body []byte) (int, any, *apiError) {
	var in armappcontainers.ContainerApp
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, nil, errorf(http.StatusBadRequest, "InvalidRequestContent", "the request content is not valid JSON: %v", err)
	}
	failure := s.failUpdate
	s.failUpdate = nil
	if failure != nil {
		in = armappcontainers.ContainerApp{} // the operation will fail having changed nothing
	}
	if in.Tags != nil {
		a.tags = in.Tags
	}
	var traffic []*armappcontainers.TrafficWeight
	if p := in.Properties; p != nil {
		if c := p.Configuration; c != nil {
			if c.ActiveRevisionsMode != nil {
				a.mode = *c.ActiveRevisionsMode
			}
			if c.Ingress != nil && c.Ingress.Traffic != nil {
				traffic = c.Ingress.Traffic
			}
		}
		if t := p.Template; t != nil {
			if err := s.updateTemplate(a, t); err != nil {
				return 0, nil, err
			}
		}
	}
	if traffic != nil {
		if err := a.setTraffic(traffic); err != nil {
			return 0, nil, err
		}
	}
	a.provisioning = armappcontainers.ContainerAppProvisioningStateInProgress
	s.operationHeaders(w, &operation{polls: 1, app: a, failure: failure})
	if r.Method == http.MethodPut {
		return http.StatusCreated, a.json(), nil
	}
	return http.StatusAccepted, nil, nil
}

// operationHeaders registers op and points the answer's polling headers
// at it.
func (s *Server) operationHeaders(w http.ResponseWriter, op *operation) {
	id := fmt.Sprintf("op-%d", s.next())
	opURL := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.App/locations/%s/%%s/%s?api-version=2025-01-01",
		s.URL(), op.app.sub, strings.ReplaceAll(strings.ToLower(op.app.location), " ", ""), id)
	op.location = fmt.Sprintf(opURL, "containerappOperationResults")
	s.ops[id] = op
	if !s.locationOnly {
		w.Header().Set("Azure-AsyncOperation", fmt.Sprintf(opURL, "containerappOperationStatuses"))
	}
	w.Header().Set("Location", op.location)
}

// deleteApp starts deleting an app: it reports provisioning Deleting (and
// refuses changes) until the long-running operation is done, and is gone
// afterwards, its revisions with it.
func (s *Server) deleteApp(w http.ResponseWriter, a *app, key string) (int, any, *apiError) {
	if a.provisioning != armappcontainers.ContainerAppProvisioningStateDeleting {
		a.provisioning, a.deleting = armappcontainers.ContainerAppProvisioningStateDeleting, 1
		for _, r := range a.revisions {
			r.active, r.replicas = false, 0
		}
	}
	s.operationHeaders(w, &operation{polls: 1, app: a, remove: func() {
		if s.apps[key] == a {
			delete(s.apps, key)
		}
	}})
	return http.StatusAccepted, nil, nil
}

// createApp creates an app from a PUT: location, ingress and a template
// with at least one container are required; its first revision is named
// after the template's revision suffix.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request, parts []string, body []byte) (int, any, *apiError) {
	var in armappcontainers.ContainerApp
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, nil, errorf(http.StatusBadRequest, "InvalidRequestContent", "the request content is not valid JSON: %v", err)
	}
	p := in.Properties
	switch {
	case in.Location == nil || *in.Location == "":
		return 0, nil, errorf(http.StatusBadRequest, "LocationRequired", "the location property is required for this definition")
	case p == nil || p.Template == nil || len(p.Template.Containers) == 0:
		return 0, nil, errorf(http.StatusBadRequest, "ContainerAppInvalidTemplate", "a template with at least one container is required")
	case p.Configuration == nil || p.Configuration.Ingress == nil:
		return 0, nil, errorf(http.StatusBadRequest, "ContainerAppInvalidIngress", "the fake creates apps with ingress only")
	}
	for _, sec := range p.Configuration.Secrets {
		if sec.Value == nil && sec.KeyVaultURL == nil {
			return 0, nil, errorf(http.StatusBadRequest, "ContainerAppSecretInvalid", "secret '%s' needs a value or a key vault reference", deref(sec.Name))
		}
	}
	a := &app{
		id:   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/containerApps/%s", parts[1], parts[3], parts[7]),
		name: parts[7], location: *in.Location, sub: parts[1], tags: in.Tags,
		mode:         armappcontainers.ActiveRevisionsModeSingle,
		ingress:      p.Configuration.Ingress,
		template:     &armappcontainers.Template{},
		provisioning: armappcontainers.ContainerAppProvisioningStateInProgress,
	}
	if a.tags == nil {
		a.tags = map[string]*string{}
	}
	if m := p.Configuration.ActiveRevisionsMode; m != nil {
		a.mode = *m
	}
	if err := s.updateTemplate(a, p.Template); err != nil {
		return 0, nil, err
	}
	if a.ingress.Traffic == nil {
		a.ingress.Traffic = []*armappcontainers.TrafficWeight{{LatestRevision: to.Ptr(true), Weight: to.Ptr[int32](100)}}
	}
	if err := a.setTraffic(a.ingress.Traffic); err != nil {
		return 0, nil, err
	}
	s.apps[appKey(parts[1], parts[3], parts[7])] = a
	s.operationHeaders(w, &operation{polls: 1, app: a})
	return http.StatusCreated, a.json(), nil
}

// updateTemplate merges t into the app's template and makes a revision
// when what runs changed.
func (s *Server) updateTemplate(a *app, t *armappcontainers.Template) *apiError {
	next := clone(a.template)
	if t.Containers != nil {
		for _, c := range t.Containers {
			if c.Image == nil || *c.Image == "" {
				return errorf(http.StatusBadRequest, "ContainerAppInvalidImage", "container %q has no image", deref(c.Name))
			}
		}
		next.Containers = t.Containers
	}
	if t.Scale != nil {
		next.Scale = t.Scale
	}
	next.RevisionSuffix = t.RevisionSuffix
	if same(next, a.template) {
		return nil
	}
	suffix := deref(next.RevisionSuffix)
	if suffix == "" {
		suffix = fmt.Sprintf("%07x", s.next())
	}
	name := a.name + "--" + suffix
	if a.revision(name) != nil {
		return errorf(http.StatusBadRequest, "ContainerAppRevisionSuffixConflict", "revision with suffix '%s' already exists for container app '%s'", suffix, a.name)
	}
	a.template = next
	a.newRevision(name, s.failImage)
	return nil
}

// setTraffic validates and applies traffic weights.
func (a *app) setTraffic(traffic []*armappcontainers.TrafficWeight) *apiError {
	var sum int32
	for _, tw := range traffic {
		if tw.Weight == nil {
			return errorf(http.StatusBadRequest, "ContainerAppInvalidTrafficWeight", "every traffic entry needs a weight")
		}
		sum += *tw.Weight
		if tw.RevisionName == nil {
			continue
		}
		rev := a.revision(*tw.RevisionName)
		if rev == nil {
			return errorf(http.StatusBadRequest, "ContainerAppRevisionNotFound", "traffic names revision '%s', which container app '%s' does not have", *tw.RevisionName, a.name)
		}
		if !rev.active && *tw.Weight > 0 {
			return errorf(http.StatusBadRequest, "ContainerAppRevisionInactive", "revision '%s' is inactive: activate it before sending traffic to it", rev.name)
		}
	}
	if sum != 100 {
		return errorf(http.StatusBadRequest, "ContainerAppInvalidTrafficWeight", "traffic weights add up to %d, not 100", sum)
	}
	if a.mode != armappcontainers.ActiveRevisionsModeMultiple && len(traffic) > 1 {
		return errorf(http.StatusBadRequest, "ContainerAppInvalidTrafficWeight", "traffic split needs activeRevisionsMode Multiple")
	}
	a.ingress.Traffic = traffic
	return nil
}

// operationStatus answers a poll of a long-running operation.
func (s *Server) operationStatus(id string) (any, *apiError) {
	op := s.ops[id]
	if op == nil {
		return nil, errorf(http.StatusNotFound, "OperationNotFound", "operation %s was not found", id)
	}
	out := map[string]any{"id": id, "name": id, "status": "InProgress", "startTime": time.Now().UTC().Format(time.RFC3339)}
	switch {
	case !op.poll():
	case op.failure != nil:
		out["status"] = "Failed"
		out["error"] = map[string]string{"code": op.failure.code, "message": op.failure.message}
	default:
		out["status"] = "Succeeded"
	}
	return out, nil
}

// operationResult answers a poll of an operation's Location: 202 while it
// runs, then the app.
func (s *Server) operationResult(w http.ResponseWriter, id string) (int, any, *apiError) {
	op := s.ops[id]
	if op == nil {
		return 0, nil, errorf(http.StatusNotFound, "OperationNotFound", "operation %s was not found", id)
	}
	if !op.poll() {
		w.Header().Set("Location", op.location)
		return http.StatusAccepted, nil, nil
	}
	if op.failure != nil {
		return 0, nil, op.failure
	}
	if op.app.provisioning == armappcontainers.ContainerAppProvisioningStateDeleting {
		return http.StatusOK, nil, nil // a deletion has no result
	}
	return http.StatusOK, op.app.json(), nil
}

func clone(t *armappcontainers.Template) *armappcontainers.Template {
	b, _ := json.Marshal(t)
	var out armappcontainers.Template
	json.Unmarshal(b, &out)
	return &out
}

func same(a, b *armappcontainers.Template) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// listApps lists the apps of a subscription, in one page:
// /subscriptions/{s}/providers/microsoft.app/containerapps.
func (s *Server) listApps(path string) (any, *apiError) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 5 || parts[0] != "subscriptions" {
		return nil, errorf(http.StatusBadRequest, "InvalidResourceId", "malformed path %s", path)
	}
	list := []*armappcontainers.ContainerApp{}
	for _, a := range s.apps {
		if strings.EqualFold(a.sub, parts[1]) {
			j := a.json()
			list = append(list, &j)
		}
	}
	return armappcontainers.ContainerAppCollection{Value: list}, nil
}
