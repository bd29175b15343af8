package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type acState struct {
	apps    []*acApp
	failing map[string]bool // version labels whose deployments roll back
	nextID  int
}

func (a *acState) init() { a.failing = map[string]bool{} }

type acApp struct {
	id, name string
	envs     []*acEnv
	profiles []*acProfile
}

type acEnv struct {
	id, name    string
	deployments []*acDeployment // deployments[i].number == i+1
}

type acProfile struct {
	id, name string
	versions []*acVersion // versions[i].number == i+1
}

type acVersion struct {
	number      int
	label       string
	contentType string
	description string
	content     []byte
}

type acDeployment struct {
	number            int
	profile           *acProfile
	version           *acVersion
	strategy          string
	description       string
	state             string
	percent           float64
	started, finished time.Time
	events            []acEvent
	failing           bool
}

type acEvent struct {
	typ, by, description string
	at                   time.Time
}

func (a *acState) id() string {
	a.nextID++
	return fmt.Sprintf("%07x", 0xa000000+a.nextID)
}

// CreateConfigProfile makes (or reuses) an AppConfig application, an
// environment in it and a hosted, freeform configuration profile, by name.
func (s *Server) CreateConfigProfile(application, environment, profile string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.ac
	app := a.appByName(application)
	if app == nil {
		app = &acApp{id: a.id(), name: application}
		a.apps = append(a.apps, app)
	}
	if app.env(environment) == nil {
		app.envs = append(app.envs, &acEnv{id: a.id(), name: environment})
	}
	if app.profile(profile) == nil {
		app.profiles = append(app.profiles, &acProfile{id: a.id(), name: profile})
	}
}

// FailConfig makes every later deployment of the configuration version
// labelled label roll back, as when an AppConfig monitor alarm fires.
func (s *Server) FailConfig(label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ac.failing[label] = true
}

// LiveConfig returns the content of the configuration an environment serves:
// that of its latest completed deployment of profile.
func (s *Server) LiveConfig(application, environment, profile string) []byte {
	_, content := s.LiveConfigVersion(application, environment, profile)
	return content
}

// LiveConfigVersion returns the version label and the content of the
// configuration an environment serves: those of its latest completed
// deployment of profile ("" and nil when it has none).
func (s *Server) LiveConfigVersion(application, environment, profile string) (label string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.ac.appByName(application)
	if app == nil || app.env(environment) == nil {
		return "", nil
	}
	deps := app.env(environment).deployments
	for i := len(deps) - 1; i >= 0; i-- {
		if d := deps[i]; d.state == "COMPLETE" && d.profile.name == profile {
			return d.version.label, d.version.content
		}
	}
	return "", nil
}

func (a *acState) appByName(name string) *acApp {
	for _, app := range a.apps {
		if app.name == name {
			return app
		}
	}
	return nil
}

func (app *acApp) env(ref string) *acEnv {
	for _, e := range app.envs {
		if e.id == ref || e.name == ref {
			return e
		}
	}
	return nil
}

func (app *acApp) profile(ref string) *acProfile {
	for _, p := range app.profiles {
		if p.id == ref || p.name == ref {
			return p
		}
	}
	return nil
}

// advance moves an in-progress deployment one step:
// DEPLOYING 0% → DEPLOYING 50% → BAKING 100% → COMPLETE, or, for a failing
// version, DEPLOYING 50% → ROLLED_BACK.
func (d *acDeployment) advance(now time.Time) {
	switch {
	case d.state == "DEPLOYING" && d.percent < 50:
		d.percent = 50
	case d.state == "DEPLOYING" && d.failing:
		d.state, d.percent, d.finished = "ROLLED_BACK", 0, now
		d.events = append(d.events,
			acEvent{"ROLLBACK_STARTED", "CLOUDWATCH_ALARM", "Rollback initiated by CloudWatch alarm arn:aws:cloudwatch:us-east-1:" + Account + ":alarm:config-errors", now},
			acEvent{"ROLLBACK_COMPLETED", "APPCONFIG", "Rollback completed", now})
	case d.state == "DEPLOYING":
		d.state, d.percent = "BAKING", 100
		d.events = append(d.events, acEvent{"BAKE_TIME_STARTED", "APPCONFIG", "Deployment bake time started", now})
	case d.state == "BAKING":
		d.state, d.finished = "COMPLETE", now
		d.events = append(d.events, acEvent{"DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed", now})
	}
}

func (d *acDeployment) inProgress() bool {
	return d.state == "DEPLOYING" || d.state == "BAKING" || d.state == "VALIDATING"
}

func iso(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (d *acDeployment) summary() map[string]any {
	return map[string]any{
		"DeploymentNumber":            d.number,
		"ConfigurationName":           d.profile.name,
		"ConfigurationVersion":        strconv.Itoa(d.version.number),
		"VersionLabel":                d.version.label,
		"DeploymentDurationInMinutes": 0,
		"GrowthType":                  "LINEAR",
		"GrowthFactor":                100,
		"FinalBakeTimeInMinutes":      0,
		"State":                       d.state,
		"PercentageComplete":          d.percent,
		"StartedAt":                   iso(d.started),
		"CompletedAt":                 iso(d.finished),
	}
}

func (d *acDeployment) json(app *acApp, env *acEnv) map[string]any {
	out := d.summary()
	out["ApplicationId"] = app.id
	out["EnvironmentId"] = env.id
	out["ConfigurationProfileId"] = d.profile.id
	out["ConfigurationLocationUri"] = "hosted"
	out["DeploymentStrategyId"] = d.strategy
	out["Description"] = d.description
	var events []any
	for i := len(d.events) - 1; i >= 0; i-- {
		e := d.events[i]
		events = append(events, map[string]any{"EventType": e.typ, "TriggeredBy": e.by, "Description": e.description, "OccurredAt": iso(e.at)})
	}
	out["EventLog"] = events
	return out
}

// acProtocol speaks restJson1: the operation is in the method and path.
type acProtocol struct{ s *Server }

func (p acProtocol) writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"Message": e.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p acProtocol) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	a := &p.s.ac
	now := time.Now()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	notFound := func(what string) { p.writeError(w, errorf(404, "ResourceNotFoundException", what+" not found")) }
	if parts[0] != "applications" {
		p.writeError(w, errorf(404, "UnknownOperationException", "fake AppConfig has no route "+r.Method+" "+r.URL.Path))
		return
	}
	if len(parts) == 1 && r.Method == http.MethodGet { // ListApplications
		var items []any
		for _, app := range a.apps {
			items = append(items, map[string]any{"Id": app.id, "Name": app.name})
		}
		writeJSON(w, 200, map[string]any{"Items": items})
		return
	}
	var app *acApp
	for _, x := range a.apps {
		if x.id == parts[1] {
			app = x
		}
	}
	if app == nil {
		notFound("Application " + parts[1])
		return
	}
	route := r.Method + " " + strings.Join(parts[2:], "/")
	switch {
	case route == "GET environments": // ListEnvironments
		var items []any
		for _, e := range app.envs {
			items = append(items, map[string]any{"ApplicationId": app.id, "Id": e.id, "Name": e.name, "State": "READY_FOR_DEPLOYMENT"})
		}
		writeJSON(w, 200, map[string]any{"Items": items})

	case route == "GET configurationprofiles": // ListConfigurationProfiles
		var items []any
		for _, pr := range app.profiles {
			items = append(items, map[string]any{"ApplicationId": app.id, "Id": pr.id, "Name": pr.name, "LocationUri": "hosted", "Type": "AWS.Freeform"})
		}
		writeJSON(w, 200, map[string]any{"Items": items})

	case len(parts) == 5 && parts[2] == "configurationprofiles" && parts[4] == "hostedconfigurationversions":
		pr := app.profile(parts[3])
		if pr == nil {
			notFound("Configuration profile " + parts[3])
			return
		}
		if r.Method == http.MethodGet { // ListHostedConfigurationVersions
			label := r.URL.Query().Get("version_label")
			var items []any
			for i := len(pr.versions) - 1; i >= 0; i-- {
				v := pr.versions[i]
				if label == "" || v.label == label {
					items = append(items, map[string]any{"ApplicationId": app.id, "ConfigurationProfileId": pr.id, "VersionNumber": v.number, "VersionLabel": v.label, "ContentType": v.contentType})
				}
			}
			writeJSON(w, 200, map[string]any{"Items": items})
			return
		}
		// CreateHostedConfigurationVersion
		if latest := r.Header.Get("Latest-Version-Number"); latest != "" && latest != strconv.Itoa(len(pr.versions)) {
			p.writeError(w, errorf(409, "ConflictException", "Latest-Version-Number does not match the latest version"))
			return
		}
		label := r.Header.Get("VersionLabel")
		for _, v := range pr.versions {
			if label != "" && v.label == label {
				p.writeError(w, errorf(409, "ConflictException", "VersionLabel "+label+" is already used by version "+strconv.Itoa(v.number)))
				return
			}
		}
		v := &acVersion{number: len(pr.versions) + 1, label: label, contentType: r.Header.Get("Content-Type"), description: r.Header.Get("Description"), content: body}
		pr.versions = append(pr.versions, v)
		writeVersion(w, 201, app, pr, v)

	case len(parts) == 6 && parts[2] == "configurationprofiles" && parts[4] == "hostedconfigurationversions" && r.Method == http.MethodGet:
		// GetHostedConfigurationVersion
		pr := app.profile(parts[3])
		if pr == nil {
			notFound("Configuration profile " + parts[3])
			return
		}
		n, err := strconv.Atoi(parts[5])
		if err != nil || n < 1 || n > len(pr.versions) {
			notFound("Hosted configuration version " + parts[5])
			return
		}
		writeVersion(w, 200, app, pr, pr.versions[n-1])

	case len(parts) >= 5 && parts[2] == "environments" && parts[4] == "deployments":
		env := app.env(parts[3])
		if env == nil {
			notFound("Environment " + parts[3])
			return
		}
		p.deployments(w, r, body, app, env, parts[5:], now)

	default:
		p.writeError(w, errorf(404, "UnknownOperationException", "fake AppConfig has no route "+r.Method+" "+r.URL.Path))
	}
}

// writeVersion answers with a hosted configuration version: its content,
// and the rest in headers.
func writeVersion(w http.ResponseWriter, status int, app *acApp, pr *acProfile, v *acVersion) {
	h := w.Header()
	h.Set("Application-Id", app.id)
	h.Set("Configuration-Profile-Id", pr.id)
	h.Set("Version-Number", strconv.Itoa(v.number))
	h.Set("VersionLabel", v.label)
	h.Set("Content-Type", v.contentType)
	if v.description != "" {
		h.Set("Description", v.description)
	}
	w.WriteHeader(status)
	w.Write(v.content)
}

// deployments serves StartDeployment, ListDeployments, GetDeployment and StopDeployment.
func (p acProtocol) deployments(w http.ResponseWriter, r *http.Request, body []byte, app *acApp, env *acEnv, rest []string, now time.Time) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost: // StartDeployment
		var in struct {
			ConfigurationProfileId, ConfigurationVersion, DeploymentStrategyId, Description string
		}
		if err := json.Unmarshal(body, &in); err != nil {
			p.writeError(w, errorf(400, "BadRequestException", err.Error()))
			return
		}
		pr := app.profile(in.ConfigurationProfileId)
		if pr == nil {
			p.writeError(w, errorf(404, "ResourceNotFoundException", "Configuration profile "+in.ConfigurationProfileId+" not found"))
			return
		}
		n, err := strconv.Atoi(in.ConfigurationVersion)
		if err != nil || n < 1 || n > len(pr.versions) {
			p.writeError(w, errorf(404, "ResourceNotFoundException", "Configuration version "+in.ConfigurationVersion+" not found"))
			return
		}
		if in.DeploymentStrategyId == "" {
			p.writeError(w, errorf(400, "BadRequestException", "DeploymentStrategyId is required"))
			return
		}
		for _, d := range env.deployments {
			if d.inProgress() {
				p.writeError(w, errorf(409, "ConflictException", fmt.Sprintf("Deployment %d is already in progress in environment %s", d.number, env.id)))
				return
			}
		}
		v := pr.versions[n-1]
		d := &acDeployment{
			number: len(env.deployments) + 1, profile: pr, version: v, strategy: in.DeploymentStrategyId,
			description: in.Description, state: "DEPLOYING", started: now, failing: p.s.ac.failing[v.label],
			events: []acEvent{{"DEPLOYMENT_STARTED", "USER", "Deployment started", now}},
		}
		env.deployments = append(env.deployments, d)
		writeJSON(w, 201, d.json(app, env))

	case len(rest) == 0 && r.Method == http.MethodGet: // ListDeployments, newest first
		var items []any
		for i := len(env.deployments) - 1; i >= 0; i-- {
			d := env.deployments[i]
			d.advance(now)
			items = append(items, d.summary())
		}
		writeJSON(w, 200, map[string]any{"Items": items})

	case len(rest) == 1:
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 1 || n > len(env.deployments) {
			p.writeError(w, errorf(404, "ResourceNotFoundException", "Deployment "+rest[0]+" not found"))
			return
		}
		d := env.deployments[n-1]
		switch r.Method {
		case http.MethodGet: // GetDeployment
			d.advance(now)
			writeJSON(w, 200, d.json(app, env))
		case http.MethodDelete: // StopDeployment
			if !d.inProgress() {
				p.writeError(w, errorf(400, "BadRequestException", fmt.Sprintf("Deployment %d is not in progress", n)))
				return
			}
			d.state, d.percent, d.finished = "ROLLED_BACK", 0, now
			d.events = append(d.events, acEvent{"ROLLBACK_COMPLETED", "USER", "Deployment stopped by user; configuration rolled back", now})
			writeJSON(w, 202, d.json(app, env))
		default:
			p.writeError(w, errorf(405, "MethodNotAllowed", r.Method))
		}

	default:
		p.writeError(w, errorf(404, "UnknownOperationException", "fake AppConfig has no route "+r.Method+" "+r.URL.Path))
	}
}
