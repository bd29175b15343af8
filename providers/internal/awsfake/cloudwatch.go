package awsfake

import (
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

const cwPathPrefix = "/service/GraniteServiceVersion20100801/operation/"

// CloudWatch alarm states.
const (
	AlarmOK               = "OK"
	AlarmFiring           = "ALARM"
	AlarmInsufficientData = "INSUFFICIENT_DATA"
)

type cwState struct {
	alarms  map[string]*cwAlarm
	metrics map[string][]float64 // namespace/metric or expression → values, newest first
	queries []MetricQuery
}

func (c *cwState) init() {
	c.alarms = map[string]*cwAlarm{}
	c.metrics = map[string][]float64{}
}

type cwAlarm struct {
	state, reason string
	composite     bool
	next          []string // states to take, one per DescribeAlarms
	updated       time.Time
}

// MetricQuery is one GetMetricData query the fake answered.
type MetricQuery struct {
	Namespace, Metric, Stat, Expression string
	Dimensions                          map[string]string
	Period                              int64
}

// SetAlarm creates or updates a metric alarm's state (AlarmOK, AlarmFiring,
// AlarmInsufficientData).
func (s *Server) SetAlarm(name, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cw.alarm(name).set(state, time.Now())
}

// SetCompositeAlarm is SetAlarm for a composite alarm.
func (s *Server) SetCompositeAlarm(name, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.cw.alarm(name)
	a.composite = true
	a.set(state, time.Now())
}

// QueueAlarmStates makes an alarm take the given states, one per later
// DescribeAlarms call, and keep the last.
func (s *Server) QueueAlarmStates(name string, states ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.cw.alarm(name)
	a.next = append(a.next, states...)
}

// SetMetric sets the datapoints (newest first) GetMetricData returns for a
// metric ("AWS/ECS/CPUUtilization": namespace, slash, metric name) or for a
// metric math or Metrics Insights expression, whatever its dimensions.
func (s *Server) SetMetric(key string, values ...float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cw.metrics[key] = values
}

// MetricQueries returns the GetMetricData queries answered so far.
func (s *Server) MetricQueries() []MetricQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MetricQuery(nil), s.cw.queries...)
}

func (c *cwState) alarm(name string) *cwAlarm {
	a := c.alarms[name]
	if a == nil {
		a = &cwAlarm{state: AlarmInsufficientData}
		c.alarms[name] = a
	}
	return a
}

func (a *cwAlarm) set(state string, now time.Time) {
	a.state, a.updated = state, now
	switch state {
	case AlarmOK:
		a.reason = "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (1.0)."
	case AlarmFiring:
		a.reason = "Threshold Crossed: 2 datapoints [12.0, 9.0] were greater than the threshold (5.0)."
	default:
		a.reason = "Insufficient Data: 1 datapoint was unknown."
	}
}

// cwProtocol speaks Smithy RPC v2 CBOR:
// POST /service/GraniteServiceVersion20100801/operation/<Operation>.
type cwProtocol struct{ s *Server }

func (p cwProtocol) writeError(w http.ResponseWriter, e *apiError) {
	code := e.code
	queryCode := strings.TrimSuffix(code, "Exception") // awsQuery-compatible code: Throttling, ResourceNotFound, …
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", queryCode+";"+fault)
	status := http.StatusBadRequest
	if e.status >= 500 {
		status = e.status
	}
	w.WriteHeader(status)
	w.Write(cbor.Encode(cbor.Map{
		"__type":  cbor.String("com.amazonaws.cloudwatch#" + code),
		"message": cbor.String(e.message),
	}))
}

func (p cwProtocol) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		p.writeError(w, errorf(400, "InvalidParameterValue", "missing Smithy-Protocol: rpc-v2-cbor"))
		return
	}
	in := cbor.Map{}
	if len(body) > 0 {
		v, err := cbor.Decode(body)
		if err != nil {
			p.writeError(w, errorf(400, "SerializationException", err.Error()))
			return
		}
		m, ok := v.(cbor.Map)
		if !ok {
			p.writeError(w, errorf(400, "SerializationException", "request body is not a CBOR map"))
			return
		}
		in = m
	}
	var out cbor.Map
	var apiErr *apiError
	switch op := strings.TrimPrefix(r.URL.Path, cwPathPrefix); op {
	case "DescribeAlarms":
		out = p.s.cw.describeAlarms(in, region(r))
	case "GetMetricData":
		out, apiErr = p.s.cw.getMetricData(in, time.Now())
	default:
		apiErr = errorf(400, "InvalidAction", "fake CloudWatch does not implement "+op)
	}
	if apiErr != nil {
		p.writeError(w, apiErr)
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(cbor.Encode(out))
}

func cborStrings(v cbor.Value) []string {
	l, _ := v.(cbor.List)
	var out []string
	for _, x := range l {
		if s, ok := x.(cbor.String); ok {
			out = append(out, string(s))
		}
	}
	return out
}

func cborString(m cbor.Map, key string) string {
	s, _ := m[key].(cbor.String)
	return string(s)
}

func timestamp(t time.Time) cbor.Value {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}
}

func (c *cwState) describeAlarms(in cbor.Map, region string) cbor.Map {
	types := cborStrings(in["AlarmTypes"])
	if len(types) == 0 {
		types = []string{"MetricAlarm"} // the API's default
	}
	metric, composite := cbor.List{}, cbor.List{}
	for _, name := range cborStrings(in["AlarmNames"]) {
		a := c.alarms[name]
		if a == nil {
			continue
		}
		if len(a.next) > 0 {
			a.set(a.next[0], time.Now())
			a.next = a.next[1:]
		}
		v := cbor.Map{
			"AlarmName":             cbor.String(name),
			"AlarmArn":              cbor.String(arn("cloudwatch", region, "alarm:"+name)),
			"StateValue":            cbor.String(a.state),
			"StateReason":           cbor.String(a.reason),
			"StateUpdatedTimestamp": timestamp(a.updated),
			"ActionsEnabled":        cbor.Bool(true),
		}
		switch {
		case a.composite && contains(types, "CompositeAlarm"):
			composite = append(composite, v)
		case !a.composite && contains(types, "MetricAlarm"):
			metric = append(metric, v)
		}
	}
	return cbor.Map{"MetricAlarms": metric, "CompositeAlarms": composite}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *cwState) getMetricData(in cbor.Map, now time.Time) (cbor.Map, *apiError) {
	queries, _ := in["MetricDataQueries"].(cbor.List)
	if len(queries) == 0 {
		return nil, errorf(400, "InvalidParameterValue", "MetricDataQueries must not be empty")
	}
	results := cbor.List{}
	for _, qv := range queries {
		q, _ := qv.(cbor.Map)
		mq := MetricQuery{Expression: cborString(q, "Expression"), Dimensions: map[string]string{}}
		key := mq.Expression
		if stat, ok := q["MetricStat"].(cbor.Map); ok {
			m, _ := stat["Metric"].(cbor.Map)
			mq.Namespace, mq.Metric, mq.Stat = cborString(m, "Namespace"), cborString(m, "MetricName"), cborString(stat, "Stat")
			mq.Period, _ = cbor.AsInt64(stat["Period"])
			dims, _ := m["Dimensions"].(cbor.List)
			for _, dv := range dims {
				d, _ := dv.(cbor.Map)
				mq.Dimensions[cborString(d, "Name")] = cborString(d, "Value")
			}
			key = mq.Namespace + "/" + mq.Metric
		}
		if key == "" {
			return nil, errorf(400, "InvalidParameterValue", "a query needs MetricStat or Expression")
		}
		c.queries = append(c.queries, mq)
		values, stamps := cbor.List{}, cbor.List{}
		for i, v := range c.metrics[key] {
			values = append(values, cbor.Float64(v))
			stamps = append(stamps, timestamp(now.Add(-time.Duration(i)*time.Minute)))
		}
		results = append(results, cbor.Map{
			"Id":         cbor.String(cborString(q, "Id")),
			"Label":      cbor.String(key),
			"Values":     values,
			"Timestamps": stamps,
			"StatusCode": cbor.String("Complete"),
		})
	}
	return cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}, nil
}
