package gcpfake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type runState struct {
	services map[string]*service // by resource name
	ops      map[string]*operation
	fail     map[string]string // image → reason its revisions fail with
}

func newRunState() runState {
	return runState{services: map[string]*service{}, ops: map[string]*operation{}, fail: map[string]string{}}
}

type service struct {
	pb        *runpb.Service
	revisions []*revision // oldest first
}

type revision struct {
	pb    *runpb.Revision
	reads int
	fail  string // the reason it fails, "" if it becomes ready
}

type operation struct {
	pb       *longrunningpb.Operation
	service  string // resource name
	revision string // short name of the revision it waits for, "" for none
	reads    int
	deleted  *runpb.Service // the service a DeleteService operation removed
}

// FailImage makes every later revision of image (name:tag) fail to become
// ready, with reason as the Ready condition's message, the way Cloud Run
// reports a container that does not start.
func (s *Server) FailImage(image, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run.fail[image] = reason
}

// Service returns a copy of a Cloud Run service as the fake holds it.
func (s *Server) Service(name string) (*runpb.Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.run.services[name]
	if !ok {
		return nil, false
	}
	return proto.Clone(svc.pb).(*runpb.Service), true
}

func short(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func (svc *service) revision(short string) *revision {
	for _, r := range svc.revisions {
		if r.pb.Name == svc.pb.Name+"/revisions/"+short {
			return r
		}
	}
	return nil
}

func condition(state runpb.Condition_State, msg string) *runpb.Condition {
	return &runpb.Condition{Type: "Ready", State: state, Message: msg, LastTransitionTime: timestamppb.Now()}
}

func readyState(conds []*runpb.Condition) runpb.Condition_State {
	for _, c := range conds {
		if c.Type == "Ready" {
			return c.State
		}
	}
	return runpb.Condition_STATE_UNSPECIFIED
}

func settled(r *revision) bool {
	st := readyState(r.pb.Conditions)
	return st == runpb.Condition_CONDITION_SUCCEEDED || st == runpb.Condition_CONDITION_FAILED
}

// observe is one read of a service's state: pending revisions move one step
// closer to settling. Call with s.mu held.
func (s *Server) observe(svc *service) {
	for _, r := range svc.revisions {
		if settled(r) {
			continue
		}
		r.reads++
		if r.reads < s.readyAfter {
			continue
		}
		r.pb.Reconciling = false
		if r.fail != "" {
			r.pb.Conditions = []*runpb.Condition{condition(runpb.Condition_CONDITION_FAILED, r.fail)}
			r.pb.Conditions[0].Severity = runpb.Condition_ERROR
			r.pb.Conditions[0].Reasons = &runpb.Condition_Reason{Reason: runpb.Condition_REVISION_FAILED}
			if svc.pb.LatestCreatedRevision == r.pb.Name {
				svc.pb.TerminalCondition = condition(runpb.Condition_CONDITION_FAILED,
					fmt.Sprintf("Revision '%s' is not ready and cannot serve traffic. %s", short(r.pb.Name), r.fail))
			}
		} else {
			r.pb.Conditions = []*runpb.Condition{condition(runpb.Condition_CONDITION_SUCCEEDED, "")}
			svc.pb.LatestReadyRevision = r.pb.Name
			if svc.pb.LatestCreatedRevision == r.pb.Name {
				svc.pb.TerminalCondition = condition(runpb.Condition_CONDITION_SUCCEEDED, "")
			}
		}
	}
	svc.pb.Reconciling = slices.ContainsFunc(svc.revisions, func(r *revision) bool { return !settled(r) })
	svc.pb.TrafficStatuses = nil
	for _, t := range svc.pb.Traffic {
		st := &runpb.TrafficTargetStatus{Type: t.Type, Revision: t.Revision, Percent: t.Percent, Tag: t.Tag}
		if t.Type == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST {
			if svc.pb.LatestReadyRevision == "" {
				continue
			}
			st.Revision = short(svc.pb.LatestReadyRevision)
		}
		svc.pb.TrafficStatuses = append(svc.pb.TrafficStatuses, st)
	}
}

func (s *Server) lookup(name string) (*service, error) {
	svc, ok := s.run.services[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", name)
	}
	return svc, nil
}

// validate checks what Cloud Run checks of a service written by a client.
func validate(svc *service, t *runpb.RevisionTemplate, traffic []*runpb.TrafficTarget) error {
	if t == nil || len(t.Containers) == 0 || t.Containers[0].Image == "" {
		return status.Error(codes.InvalidArgument, "service.template.containers: a container with an image is required")
	}
	id := short(svc.pb.Name)
	if t.Revision != "" {
		if !strings.HasPrefix(t.Revision, id+"-") || len(t.Revision) > 63 {
			return status.Errorf(codes.InvalidArgument, "service.template.revision: %q must start with %q and be at most 63 characters", t.Revision, id+"-")
		}
		if svc.revision(t.Revision) != nil && !proto.Equal(t, svc.pb.Template) {
			return status.Errorf(codes.AlreadyExists, "Revision named '%s' with different configuration already exists.", t.Revision)
		}
	}
	total := int32(0)
	for _, tt := range traffic {
		total += tt.Percent
		if tt.Type == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION && svc.revision(tt.Revision) == nil &&
			(t.Revision != tt.Revision) {
			return status.Errorf(codes.InvalidArgument, "service.traffic: revision %q does not exist", tt.Revision)
		}
	}
	if len(traffic) > 0 && total != 100 {
		return status.Errorf(codes.InvalidArgument, "service.traffic: percentages add up to %d, not 100", total)
	}
	return nil
}

// write applies a client's service to the stored one, creating a revision
// when the template changed, and returns the operation. Call with s.mu held.
func (s *Server) write(svc *service, in *runpb.Service) (*longrunningpb.Operation, error) {
	traffic := in.Traffic
	if len(traffic) == 0 {
		traffic = svc.pb.Traffic
	}
	if err := validate(svc, in.Template, traffic); err != nil {
		return nil, err
	}
	svc.pb.Generation++
	svc.pb.Etag = fmt.Sprintf(`"%d"`, svc.pb.Generation)
	svc.pb.UpdateTime = timestamppb.Now()
	svc.pb.Labels, svc.pb.Annotations = in.Labels, in.Annotations
	svc.pb.Traffic = traffic
	svc.pb.ObservedGeneration = svc.pb.Generation
	var created string
	if !proto.Equal(in.Template, svc.pb.Template) || len(svc.revisions) == 0 {
		svc.pb.Template = proto.Clone(in.Template).(*runpb.RevisionTemplate)
		created = s.newRevision(svc)
	}
	s.observe(svc)
	return s.newOperation(svc, created, nil), nil
}

// newRevision creates a revision from the service's template. Call with s.mu held.
func (s *Server) newRevision(svc *service) string {
	t := svc.pb.Template
	name := t.Revision
	if name == "" {
		name = fmt.Sprintf("%s-%05d-%s", short(svc.pb.Name), svc.pb.Generation, suffix(s.tick()))
	}
	image := t.Containers[0].Image
	r := &revision{fail: s.run.fail[image], pb: &runpb.Revision{
		Name:        svc.pb.Name + "/revisions/" + name,
		Uid:         fmt.Sprintf("rev-%d", s.tick()),
		Generation:  1,
		Labels:      t.Labels,
		Annotations: t.Annotations,
		CreateTime:  timestamppb.Now(),
		Service:     svc.pb.Name,
		Scaling:     t.Scaling,
		Containers:  proto.Clone(t).(*runpb.RevisionTemplate).Containers,
		Reconciling: true,
		Conditions:  []*runpb.Condition{condition(runpb.Condition_CONDITION_RECONCILING, "Deploying revision.")},
		Etag:        fmt.Sprintf(`"%d"`, s.clock),
	}}
	svc.revisions = append(svc.revisions, r)
	svc.pb.LatestCreatedRevision = r.pb.Name
	svc.pb.TerminalCondition = condition(runpb.Condition_CONDITION_RECONCILING, "Deploying revision.")
	return name
}

// suffix is a short lowercase suffix like Cloud Run's generated ones.
func suffix(n int64) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := []byte{letters[n%26], letters[(n/26)%26], letters[(n/676)%26]}
	return string(b)
}

func (s *Server) newOperation(svc *service, revision string, deleted *runpb.Service) *longrunningpb.Operation {
	loc := svc.pb.Name[:strings.Index(svc.pb.Name, "/services/")]
	op := &operation{
		pb:       &longrunningpb.Operation{Name: fmt.Sprintf("%s/operations/op-%d", loc, s.tick())},
		service:  svc.pb.Name,
		revision: revision,
		deleted:  deleted,
	}
	s.run.ops[op.pb.Name] = op
	s.refresh(op)
	return proto.Clone(op.pb).(*longrunningpb.Operation)
}

// refresh brings an operation's proto up to date. Call with s.mu held.
func (s *Server) refresh(op *operation) {
	if op.deleted != nil {
		resp, _ := anypb.New(op.deleted)
		op.pb.Done, op.pb.Metadata = true, resp
		op.pb.Result = &longrunningpb.Operation_Response{Response: resp}
		return
	}
	svc := s.run.services[op.service]
	meta, _ := anypb.New(svc.pb)
	op.pb.Metadata = meta
	var r *revision
	if op.revision != "" {
		r = svc.revision(op.revision)
	}
	switch {
	case r != nil && !settled(r), r == nil && op.reads < s.readyAfter:
		return
	case r != nil && r.fail != "":
		op.pb.Done = true
		op.pb.Result = &longrunningpb.Operation_Error{Error: status.Newf(codes.FailedPrecondition,
			"Revision '%s' is not ready and cannot serve traffic. %s", op.revision, r.fail).Proto()}
	default:
		op.pb.Done = true
		op.pb.Result = &longrunningpb.Operation_Response{Response: meta}
	}
}

type services struct {
	runpb.UnimplementedServicesServer
	s *Server
}

func (h *services) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	s := h.s
	svc, err := s.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	s.observe(svc)
	return proto.Clone(svc.pb).(*runpb.Service), nil
}

func (h *services) CreateService(_ context.Context, req *runpb.CreateServiceRequest) (*longrunningpb.Operation, error) {
	s := h.s
	if req.ServiceId == "" || req.Service == nil || strings.Count(req.Parent, "/") != 3 {
		return nil, status.Error(codes.InvalidArgument, "parent, service_id and service are required")
	}
	name := req.Parent + "/services/" + req.ServiceId
	if _, exists := s.run.services[name]; exists {
		return nil, status.Errorf(codes.AlreadyExists, "Resource '%s' already exists", name)
	}
	svc := &service{pb: &runpb.Service{
		Name:       name,
		Uid:        fmt.Sprintf("svc-%d", s.tick()),
		CreateTime: timestamppb.Now(),
		Traffic: []*runpb.TrafficTarget{{
			Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100,
		}},
		Uri: "https://" + req.ServiceId + ".a.run.app",
	}}
	if err := validate(svc, req.Service.Template, req.Service.Traffic); err != nil {
		return nil, err
	}
	s.run.services[name] = svc
	return s.write(svc, req.Service)
}

// ListServices lists the services of a project and location
// (projects/{p}/locations/{l}), by name, in one page.
func (h *services) ListServices(_ context.Context, req *runpb.ListServicesRequest) (*runpb.ListServicesResponse, error) {
	s := h.s
	resp := &runpb.ListServicesResponse{}
	for _, name := range slices.Sorted(maps.Keys(s.run.services)) {
		if svc := s.run.services[name]; strings.HasPrefix(name, req.Parent+"/services/") {
			s.observe(svc)
			resp.Services = append(resp.Services, proto.Clone(svc.pb).(*runpb.Service))
		}
	}
	return resp, nil
}

func (h *services) UpdateService(_ context.Context, req *runpb.UpdateServiceRequest) (*longrunningpb.Operation, error) {
	s := h.s
	if req.Service == nil {
		return nil, status.Error(codes.InvalidArgument, "service is required")
	}
	svc, err := s.lookup(req.Service.Name)
	if err != nil {
		return nil, err
	}
	if req.Service.Etag != "" && req.Service.Etag != svc.pb.Etag {
		return nil, status.Errorf(codes.Aborted, "etag %s does not match the service's current etag %s", req.Service.Etag, svc.pb.Etag)
	}
	return s.write(svc, req.Service)
}

func (h *services) DeleteService(_ context.Context, req *runpb.DeleteServiceRequest) (*longrunningpb.Operation, error) {
	s := h.s
	svc, err := s.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	if req.Etag != "" && req.Etag != svc.pb.Etag {
		return nil, status.Errorf(codes.Aborted, "etag %s does not match the service's current etag %s", req.Etag, svc.pb.Etag)
	}
	delete(s.run.services, req.Name)
	return s.newOperation(svc, "", svc.pb), nil
}

type revisions struct {
	runpb.UnimplementedRevisionsServer
	s *Server
}

func (h *revisions) GetRevision(_ context.Context, req *runpb.GetRevisionRequest) (*runpb.Revision, error) {
	s := h.s
	i := strings.Index(req.Name, "/revisions/")
	if i < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not a revision name", req.Name)
	}
	svc, err := s.lookup(req.Name[:i])
	if err != nil {
		return nil, err
	}
	s.observe(svc)
	r := svc.revision(short(req.Name))
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.Name)
	}
	return proto.Clone(r.pb).(*runpb.Revision), nil
}

// ListRevisions lists a service's revisions, newest first, in one page.
func (h *revisions) ListRevisions(_ context.Context, req *runpb.ListRevisionsRequest) (*runpb.ListRevisionsResponse, error) {
	s := h.s
	svc, err := s.lookup(req.Parent)
	if err != nil {
		return nil, err
	}
	s.observe(svc)
	resp := &runpb.ListRevisionsResponse{}
	for _, r := range slices.Backward(svc.revisions) {
		resp.Revisions = append(resp.Revisions, proto.Clone(r.pb).(*runpb.Revision))
	}
	return resp, nil
}

type operations struct {
	longrunningpb.UnimplementedOperationsServer
	s *Server
}

func (h *operations) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s := h.s
	op, ok := s.run.ops[req.Name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.Name)
	}
	op.reads++
	if svc := s.run.services[op.service]; svc != nil {
		s.observe(svc)
	}
	s.refresh(op)
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

func (h *operations) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s := h.s
	delete(s.run.ops, req.Name)
	return &emptypb.Empty{}, nil
}
