package awsfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
)

const ecsTargetPrefix = "AmazonEC2ContainerServiceV20141113."

// CircuitBreakerReason is the rolloutStateReason of a deployment whose
// circuit breaker tripped.
const CircuitBreakerReason = "ECS deployment circuit breaker: tasks failed to start."

// failAfter is how many tasks of a failing deployment fail before its
// circuit breaker trips.
const failAfter = 2

type ecsState struct {
	services  map[string]*ecsService      // cluster/name
	clusters  map[string]bool             // names
	taskDefs  map[string]map[string]any   // ARN → task definition
	tags      map[string][]map[string]any // task definition ARN → tags
	revisions map[string]int              // family → latest revision
	failing   map[string]bool             // images whose tasks never start
	nextID    int
}

func (e *ecsState) init() {
	e.services = map[string]*ecsService{}
	e.clusters = map[string]bool{}
	e.taskDefs = map[string]map[string]any{}
	e.tags = map[string][]map[string]any{}
	e.revisions = map[string]int{}
	e.failing = map[string]bool{}
}

type ecsService struct {
	cluster, name, region string
	desired               int
	taskDef               string
	// status is ACTIVE, or DRAINING then INACTIVE once DeleteService
	// deleted the service: DescribeServices reports it stopping its tasks
	// (DRAINING) for two calls, then INACTIVE, when a service of that name
	// may be created again.
	status      string
	draining    int              // DescribeServices calls left that report DRAINING
	network     map[string]any   // networkConfiguration
	tags        []map[string]any // the service's own tags (TagResource, CreateService)
	deployments []*ecsDeployment // deployments[0] is PRIMARY
	events      []string
	deployed    map[string]int // image → deployments UpdateService made of it
}

type ecsDeployment struct {
	id, taskDef     string
	rollout, reason string
	running, failed int
	failing         bool
}

// CreateService makes a cluster (if new) and a service in it running a
// one-container task definition (family = service) with image, with
// desired tasks already running, a completed deployment and the deployment
// circuit breaker enabled (without automatic rollback: Meridian rolls back).
// It returns the task definition's ARN.
func (s *Server) CreateService(region, cluster, service, image string, desired int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ecs.clusters[cluster] = true
	arn := s.ecs.register(region, map[string]any{
		"family": service,
		"containerDefinitions": []any{map[string]any{
			"name": service, "image": image, "essential": true,
			"portMappings": []any{map[string]any{"containerPort": 8080, "protocol": "tcp"}},
		}},
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []any{"FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
	}, nil)
	s.ecs.nextID++
	s.ecs.services[cluster+"/"+service] = &ecsService{
		cluster: cluster, name: service, region: region, desired: desired, taskDef: arn, status: "ACTIVE",
		network:     map[string]any{"awsvpcConfiguration": map[string]any{"subnets": []any{"subnet-0fake"}, "assignPublicIp": "DISABLED"}},
		deployments: []*ecsDeployment{{id: fmt.Sprintf("ecs-svc/%019d", s.ecs.nextID), taskDef: arn, rollout: "COMPLETED", running: desired}},
	}
	return arn
}

// FailImage makes every later deployment of a task definition that runs
// image (repository:tag) fail: its tasks never start and the deployment
// circuit breaker trips.
func (s *Server) FailImage(image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ecs.failing[image] = true
}

// ServiceTaskDefinition returns the task definition a service runs, "" if
// there is no such service.
func (s *Server) ServiceTaskDefinition(cluster, service string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.ecs.services[cluster+"/"+service]; svc != nil && svc.status == "ACTIVE" {
		return svc.taskDef
	}
	return ""
}

// Deployed returns how many deployments UpdateService started of each
// image on a service: a change deployed twice to one target shows as 2.
func (s *Server) Deployed(cluster, service string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.ecs.services[cluster+"/"+service]; svc != nil {
		return maps.Clone(svc.deployed)
	}
	return nil
}

// TaskDefinitionImages returns the container images of a task definition.
func (s *Server) TaskDefinitionImages(arn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return images(s.ecs.taskDefs[arn])
}

func images(td map[string]any) []string {
	var out []string
	cds, _ := td["containerDefinitions"].([]any)
	for _, cd := range cds {
		if m, ok := cd.(map[string]any); ok {
			img, _ := m["image"].(string)
			out = append(out, img)
		}
	}
	return out
}

func (e *ecsState) register(region string, td map[string]any, tags []map[string]any) string {
	family, _ := td["family"].(string)
	e.revisions[family]++
	rev := e.revisions[family]
	ref := arn("ecs", region, fmt.Sprintf("task-definition/%s:%d", family, rev))
	td["taskDefinitionArn"] = ref
	td["revision"] = rev
	td["status"] = "ACTIVE"
	td["compatibilities"] = []any{"EC2", "FARGATE"}
	e.taskDefs[ref] = td
	e.tags[ref] = tags
	return ref
}

// lookupTaskDef finds a task definition by ARN, family:revision or family.
func (e *ecsState) lookupTaskDef(ref string) (string, map[string]any) {
	if td, ok := e.taskDefs[ref]; ok {
		return ref, td
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	n := e.revisions[family]
	if hasRev {
		var err error
		if n, err = strconv.Atoi(rev); err != nil {
			return "", nil
		}
	}
	for arn, td := range e.taskDefs {
		if td["family"] == family && td["revision"] == n {
			return arn, td
		}
	}
	return "", nil
}

// advance moves the service's rollout one step: the primary deployment
// starts a task (or, for a failing image, one more task fails to start)
// and older deployments stop one.
func (e *ecsState) advance(svc *ecsService) {
	if svc.status == "DRAINING" {
		if svc.draining--; svc.draining < 0 {
			svc.status, svc.deployments = "INACTIVE", nil
		}
		return
	}
	if len(svc.deployments) == 0 {
		return
	}
	p := svc.deployments[0]
	if p.rollout != "IN_PROGRESS" {
		return
	}
	if p.failing {
		p.failed++
		svc.events = append(svc.events, fmt.Sprintf("(service %s) failed to launch a task: CannotPullContainerError", svc.name))
		if p.failed >= failAfter {
			p.rollout, p.reason = "FAILED", CircuitBreakerReason
			svc.events = append(svc.events, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, p.id))
		}
		return
	}
	if p.running < svc.desired {
		p.running++
	}
	for _, d := range svc.deployments[1:] {
		d.running = max(d.running-1, 0)
	}
	if p.running == svc.desired {
		p.rollout = "COMPLETED"
		svc.deployments = svc.deployments[:1]
		svc.events = append(svc.events, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
	}
}

func (svc *ecsService) arn() string {
	return arn("ecs", svc.region, "service/"+svc.cluster+"/"+svc.name)
}

func (svc *ecsService) json() map[string]any {
	var deps []any
	running := 0
	for i, d := range svc.deployments {
		status := "ACTIVE"
		if i == 0 {
			status = "PRIMARY"
		}
		running += d.running
		dep := map[string]any{
			"id": d.id, "status": status, "taskDefinition": d.taskDef,
			"desiredCount": svc.desired, "runningCount": d.running, "pendingCount": 0,
			"failedTasks": d.failed, "launchType": "FARGATE", "rolloutState": d.rollout,
		}
		if d.reason != "" {
			dep["rolloutStateReason"] = d.reason
		}
		deps = append(deps, dep)
	}
	var events []any
	for i := len(svc.events) - 1; i >= 0; i-- {
		events = append(events, map[string]any{"id": strconv.Itoa(i), "message": svc.events[i]})
	}
	return map[string]any{
		"serviceArn":     svc.arn(),
		"serviceName":    svc.name,
		"clusterArn":     arn("ecs", svc.region, "cluster/"+svc.cluster),
		"status":         svc.status,
		"desiredCount":   svc.desired,
		"runningCount":   running,
		"pendingCount":   0,
		"taskDefinition": svc.taskDef,
		"launchType":     "FARGATE",
		"deploymentConfiguration": map[string]any{
			"deploymentCircuitBreaker": map[string]any{"enable": true, "rollback": false},
			"maximumPercent":           200,
			"minimumHealthyPercent":    100,
		},
		"deployments":          deps,
		"events":               events,
		"networkConfiguration": svc.network,
		"tags":                 svc.tags,
	}
}

// ecsProtocol speaks awsJson1.1: POST /, X-Amz-Target names the operation.
type ecsProtocol struct{ s *Server }

func (p ecsProtocol) writeError(w http.ResponseWriter, e *apiError) {
	status := http.StatusBadRequest
	if e.status >= 500 {
		status = e.status
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.message})
}

func (p ecsProtocol) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		p.writeError(w, errorf(400, "SerializationException", err.Error()))
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), ecsTargetPrefix)
	var out any
	var apiErr *apiError
	e := &p.s.ecs
	switch op {
	case "DescribeServices":
		out, apiErr = e.describeServices(in)
	case "UpdateService":
		out, apiErr = e.updateService(in)
	case "DescribeTaskDefinition":
		out, apiErr = e.describeTaskDefinition(in)
	case "RegisterTaskDefinition":
		out, apiErr = e.registerTaskDefinition(region(r), in)
	case "DeleteService":
		out, apiErr = e.deleteService(in)
	case "CreateService":
		out, apiErr = e.createService(region(r), in)
	case "ListClusters":
		out, apiErr = e.listClusters(region(r))
	case "ListServices":
		out, apiErr = e.listServices(region(r), in)
	case "TagResource":
		out, apiErr = e.tagResource(in)
	default:
		apiErr = errorf(400, "UnknownOperationException", "fake ECS does not implement "+op)
	}
	if apiErr != nil {
		p.writeError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func str(in map[string]any, key string) string {
	s, _ := in[key].(string)
	return s
}

// clusterName accepts a cluster name or ARN; "" is the default cluster.
func clusterName(ref string) string {
	if ref == "" {
		return "default"
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (e *ecsState) cluster(in map[string]any) (string, *apiError) {
	c := clusterName(str(in, "cluster"))
	if !e.clusters[c] {
		return "", errorf(400, "ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

// service is the service in names (its cluster, and its name or ARN in
// "service"), nil if the cluster has none by that name.
func (e *ecsState) service(in map[string]any) (*ecsService, *apiError) {
	c, apiErr := e.cluster(in)
	if apiErr != nil {
		return nil, apiErr
	}
	name := str(in, "service")
	return e.services[c+"/"+name[strings.LastIndex(name, "/")+1:]], nil
}

func (e *ecsState) describeServices(in map[string]any) (any, *apiError) {
	c, apiErr := e.cluster(in)
	if apiErr != nil {
		return nil, apiErr
	}
	names, _ := in["services"].([]any)
	services, failures := []any{}, []any{}
	for _, n := range names {
		name, _ := n.(string)
		name = name[strings.LastIndex(name, "/")+1:]
		svc := e.services[c+"/"+name]
		if svc == nil {
			failures = append(failures, map[string]any{"arn": name, "reason": "MISSING"})
			continue
		}
		e.advance(svc)
		j := svc.json()
		if include, _ := in["include"].([]any); len(include) == 0 || include[0] != "TAGS" {
			delete(j, "tags")
		}
		services = append(services, j)
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (e *ecsState) updateService(in map[string]any) (any, *apiError) {
	svc, apiErr := e.service(in)
	switch {
	case apiErr != nil:
		return nil, apiErr
	case svc == nil:
		return nil, errorf(400, "ServiceNotFoundException", "Service not found.")
	case svc.status != "ACTIVE":
		return nil, errorf(400, "ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if ref := str(in, "taskDefinition"); ref != "" {
		arn, td := e.lookupTaskDef(ref)
		if td == nil {
			return nil, errorf(400, "ClientException", "TaskDefinition not found.")
		}
		if arn != svc.taskDef || in["forceNewDeployment"] == true {
			failing := false
			for _, img := range images(td) {
				failing = failing || e.failing[img]
			}
			e.nextID++
			d := &ecsDeployment{id: fmt.Sprintf("ecs-svc/%019d", e.nextID), taskDef: arn, rollout: "IN_PROGRESS", failing: failing}
			svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
			svc.taskDef = arn
			if svc.deployed == nil {
				svc.deployed = map[string]int{}
			}
			for _, img := range images(td) {
				svc.deployed[img]++
			}
		}
	}
	return map[string]any{"service": svc.json()}, nil
}

func (e *ecsState) describeTaskDefinition(in map[string]any) (any, *apiError) {
	arn, td := e.lookupTaskDef(str(in, "taskDefinition"))
	if td == nil {
		return nil, errorf(400, "ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td}
	if include, _ := in["include"].([]any); len(include) > 0 && include[0] == "TAGS" {
		out["tags"] = e.tags[arn]
	}
	return out, nil
}

func (e *ecsState) registerTaskDefinition(region string, in map[string]any) (any, *apiError) {
	if str(in, "family") == "" {
		return nil, errorf(400, "ClientException", "Family must be specified.")
	}
	cds, _ := in["containerDefinitions"].([]any)
	if len(cds) == 0 {
		return nil, errorf(400, "ClientException", "Container definitions must be specified.")
	}
	for _, img := range images(in) {
		if img == "" {
			return nil, errorf(400, "ClientException", "Container.image should not be null or empty.")
		}
	}
	tags := tagList(in["tags"])
	delete(in, "tags")
	arn := e.register(region, in, tags)
	return map[string]any{"taskDefinition": e.taskDefs[arn], "tags": tags}, nil
}

// deleteService deletes an ACTIVE service as ECS does: it refuses while the
// service is scaled above zero unless force is set, and the service then
// drains (DRAINING) before it is INACTIVE. A service that is not ACTIVE
// (missing, already deleted) is ServiceNotFoundException.
func (e *ecsState) deleteService(in map[string]any) (any, *apiError) {
	svc, apiErr := e.service(in)
	if apiErr != nil {
		return nil, apiErr
	}
	if svc == nil || svc.status != "ACTIVE" {
		return nil, errorf(400, "ServiceNotFoundException", "Service not found.")
	}
	if svc.desired > 0 && in["force"] != true {
		return nil, errorf(400, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	}
	svc.status, svc.desired, svc.draining = "DRAINING", 0, 2
	for _, d := range svc.deployments {
		d.running = 0
	}
	return map[string]any{"service": svc.json()}, nil
}

// createService creates a service running a registered task definition,
// its tasks starting one per DescribeServices. A service of the same name
// may be created only once an earlier one is INACTIVE, and a task
// definition in awsvpc network mode needs a network configuration.
func (e *ecsState) createService(region string, in map[string]any) (any, *apiError) {
	c, apiErr := e.cluster(in)
	if apiErr != nil {
		return nil, apiErr
	}
	name := str(in, "serviceName")
	if old := e.services[c+"/"+name]; old != nil {
		switch old.status {
		case "ACTIVE":
			return nil, errorf(400, "InvalidParameterException", "Creation of service was not idempotent.")
		case "DRAINING":
			return nil, errorf(400, "InvalidParameterException", "Unable to Start a service that is still Draining.")
		}
	}
	arn, td := e.lookupTaskDef(str(in, "taskDefinition"))
	if td == nil {
		return nil, errorf(400, "ClientException", "TaskDefinition not found.")
	}
	network, _ := in["networkConfiguration"].(map[string]any)
	if td["networkMode"] == "awsvpc" && network == nil {
		return nil, errorf(400, "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	desired, _ := in["desiredCount"].(float64)
	failing := false
	for _, img := range images(td) {
		failing = failing || e.failing[img]
	}
	e.nextID++
	svc := &ecsService{
		cluster: c, name: name, region: region, desired: int(desired), taskDef: arn, status: "ACTIVE", network: network, tags: tagList(in["tags"]),
		deployments: []*ecsDeployment{{id: fmt.Sprintf("ecs-svc/%019d", e.nextID), taskDef: arn, rollout: "IN_PROGRESS", failing: failing}},
	}
	e.services[c+"/"+name] = svc
	return map[string]any{"service": svc.json()}, nil
}

// tagList is a request's tags ([{"key": …, "value": …}]).
func tagList(v any) []map[string]any {
	var tags []map[string]any
	ts, _ := v.([]any)
	for _, t := range ts {
		if m, ok := t.(map[string]any); ok {
			tags = append(tags, m)
		}
	}
	return tags
}

// listClusters lists every cluster, in one page, as ARNs of the region.
func (e *ecsState) listClusters(region string) (any, *apiError) {
	arns := []any{}
	for c := range e.clusters {
		arns = append(arns, arn("ecs", region, "cluster/"+c))
	}
	return map[string]any{"clusterArns": arns}, nil
}

// listServices lists the cluster's services in the region that are not
// INACTIVE, in one page.
func (e *ecsState) listServices(region string, in map[string]any) (any, *apiError) {
	c, apiErr := e.cluster(in)
	if apiErr != nil {
		return nil, apiErr
	}
	arns := []any{}
	for _, svc := range e.services {
		if svc.cluster == c && svc.region == region && svc.status != "INACTIVE" {
			arns = append(arns, svc.arn())
		}
	}
	return map[string]any{"serviceArns": arns}, nil
}

// tagResource adds tags to a service (by ARN), replacing those of the
// same keys; the fake tags no other resource.
func (e *ecsState) tagResource(in map[string]any) (any, *apiError) {
	ref := str(in, "resourceArn")
	var svc *ecsService
	for _, s := range e.services {
		if s.arn() == ref && s.status == "ACTIVE" {
			svc = s
		}
	}
	if svc == nil {
		return nil, errorf(400, "InvalidParameterException", "The specified resource is not valid: "+ref)
	}
	for _, t := range tagList(in["tags"]) {
		replaced := false
		for i, old := range svc.tags {
			if old["key"] == t["key"] {
				svc.tags[i], replaced = t, true
			}
		}
		if !replaced {
			svc.tags = append(svc.tags, t)
		}
	}
	return map[string]any{}, nil
}
