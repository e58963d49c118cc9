package events

import "time"

// Stream names. Events are grouped by who produces them, because the
// groups need different retention: sensor output is large and short-lived,
// alerts and enforcement audit are small and kept long.
const (
	StreamSensor    = "VIGIL_V1_SENSOR"
	StreamAnalytics = "VIGIL_V1_ANALYTICS"
	StreamAlerts    = "VIGIL_V1_ALERTS"
	StreamEnforce   = "VIGIL_V1_ENFORCE"
)

// StreamLimits bound one stream. When a limit is reached the oldest
// messages are removed (JetStream limits retention); projections that need
// older history rebuild from ClickHouse.
type StreamLimits struct {
	// MaxAge is how long a message is kept.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes bounds the stream's storage in bytes.
	MaxBytes int64 `yaml:"max_bytes"`
}

// RetentionConfiguration holds the limits of each stream.
type RetentionConfiguration struct {
	Sensor    StreamLimits `yaml:"sensor"`
	Analytics StreamLimits `yaml:"analytics"`
	Alerts    StreamLimits `yaml:"alerts"`
	Enforce   StreamLimits `yaml:"enforce"`
}

// DefaultRetention keeps a week of sensor events and a year of alerts and
// enforcement audit, within sizes a single appliance holds.
func DefaultRetention() RetentionConfiguration {
	const day = 24 * time.Hour
	const gib = 1 << 30
	return RetentionConfiguration{
		Sensor:    StreamLimits{MaxAge: 7 * day, MaxBytes: 20 * gib},
		Analytics: StreamLimits{MaxAge: 90 * day, MaxBytes: 4 * gib},
		Alerts:    StreamLimits{MaxAge: 365 * day, MaxBytes: 2 * gib},
		Enforce:   StreamLimits{MaxAge: 365 * day, MaxBytes: 1 * gib},
	}
}

// StreamSpec declares one stream: its name, the kinds it holds and limits.
type StreamSpec struct {
	Name   string
	Kinds  []Kind
	Limits StreamLimits
}

// Subjects returns the wildcard subjects of the stream's kinds.
func (s StreamSpec) Subjects() []string {
	subjects := make([]string, len(s.Kinds))
	for i, k := range s.Kinds {
		subjects[i] = KindSubjects(k)
	}
	return subjects
}

// Streams returns the v1 streams with the given retention.
func Streams(r RetentionConfiguration) []StreamSpec {
	return []StreamSpec{
		{Name: StreamSensor, Kinds: []Kind{KindFlow, KindObservation, KindAuth, KindHealth}, Limits: r.Sensor},
		{Name: StreamAnalytics, Kinds: []Kind{KindDeviation, KindDeviceChange, KindVulnerability, KindRisk}, Limits: r.Analytics},
		{Name: StreamAlerts, Kinds: []Kind{KindDecision, KindAlert, KindAlertState}, Limits: r.Alerts},
		{Name: StreamEnforce, Kinds: []Kind{KindEnforcement}, Limits: r.Enforce},
	}
}
