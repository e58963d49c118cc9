package capture

import (
	"errors"
	"fmt"
	"time"
)

// Configuration of the sensor component. Durations are in capture (event)
// time: they are measured on packet timestamps, never the wall clock.
type Configuration struct {
	// Name and Site identify the sensor in every event's source.
	Name string `yaml:"name"`
	Site string `yaml:"site"`
	// Files are pcap/pcapng files read in order as one stream.
	Files []string `yaml:"files"`
	// Interface is captured live (AF_PACKET) instead of files. Workers
	// sockets share it in a fanout group, each flow on one worker;
	// BufferMB is the kernel ring size shared among them. Filter is a
	// tcpdump-syntax capture filter (compiled with tcpdump at start), or
	// FilterProgram its compiled form (tcpdump -ddd output).
	Interface     string        `yaml:"interface"`
	Workers       int           `yaml:"workers"`
	BufferMB      int           `yaml:"buffer_mb"`
	Filter        string        `yaml:"filter"`
	FilterProgram string        `yaml:"filter_program"`
	PollInterval  time.Duration `yaml:"poll_interval"`

	TCPTimeout        time.Duration `yaml:"tcp_timeout"`
	UDPTimeout        time.Duration `yaml:"udp_timeout"`
	ICMPTimeout       time.Duration `yaml:"icmp_timeout"`
	TCPLinger         time.Duration `yaml:"tcp_linger"`
	TCPAttemptTimeout time.Duration `yaml:"tcp_attempt_timeout"`
	ActiveTimeout     time.Duration `yaml:"active_timeout"`
	MaxFlows          int           `yaml:"max_flows"`
	EmitStart         bool          `yaml:"emit_start"`
	FlipSynAck        bool          `yaml:"flip_syn_ack"`
	DPIPackets        int           `yaml:"dpi_packets"`
	ServerPorts       []uint16      `yaml:"server_ports"`
	// StreamBuffer bounds the bytes kept per direction of a dissected TCP
	// connection while a dissector waits for the rest of a PDU.
	StreamBuffer int `yaml:"stream_buffer"`
	// FragmentTimeout is how long (packet time) IP fragments wait for the
	// rest of their datagram; MaxFragmented bounds the datagrams in
	// reassembly at once.
	FragmentTimeout time.Duration `yaml:"fragment_timeout"`
	MaxFragmented   int           `yaml:"max_fragmented"`
	// ObservationQuiet is how long (capture time) the same fact about
	// the same device is not published again; 0 publishes every one.
	ObservationQuiet time.Duration `yaml:"observation_quiet"`

	// HealthInterval is how often (in capture time) a health event is
	// published; SilentAfter marks the report silent when no packet came
	// for that long.
	HealthInterval time.Duration `yaml:"health_interval"`
	SilentAfter    time.Duration `yaml:"silent_after"`

	// GCHeadroomMB is garbage (in MiB) the process may accumulate between
	// collections beyond the live heap's own allowance (GOGC): fewer
	// collections for a bounded amount of memory (gcheadroom.go). It
	// applies to the whole process; 0 leaves the collector as it is.
	GCHeadroomMB int `yaml:"gc_headroom_mb"`
}

// DefaultServerPorts are the ports taken as servers when a flow is first
// seen mid-stream. They cover Zeek's analyzer ports for common protocols
// and the clinical ones Vigil cares about.
var DefaultServerPorts = []uint16{
	20, 21, 22, 23, 25, 53, 67, 69, 80, 88, 104, 110, 111, 123, 135, 137, 138, 139,
	143, 161, 162, 389, 443, 445, 465, 502, 514, 515, 587, 631, 636, 993, 995,
	1080, 1433, 1521, 1812, 1813, 2000, 2575, 3128, 3306, 3389, 4242, 5060, 5061,
	5353, 5355, 5432, 5900, 6443, 8000, 8080, 8443, 8888, 11112, 20000, 44818, 47808,
}

// DefaultConfiguration returns the defaults: Zeek's timeouts, one million
// flows, updates every 5 minutes, health every minute.
func DefaultConfiguration() Configuration {
	return Configuration{
		Name:              "sensor",
		Workers:           1,
		BufferMB:          64,
		PollInterval:      time.Second,
		TCPTimeout:        5 * time.Minute,
		UDPTimeout:        time.Minute,
		ICMPTimeout:       time.Minute,
		TCPLinger:         5 * time.Second,
		TCPAttemptTimeout: 5 * time.Second,
		ActiveTimeout:     5 * time.Minute,
		MaxFlows:          1 << 20,
		DPIPackets:        4,
		FlipSynAck:        true,
		ServerPorts:       append([]uint16(nil), DefaultServerPorts...),
		StreamBuffer:      64 << 10,
		FragmentTimeout:   30 * time.Second,
		ObservationQuiet:  10 * time.Minute,
		MaxFragmented:     4096,
		HealthInterval:    time.Minute,
		SilentAfter:       5 * time.Minute,
		GCHeadroomMB:      64,
	}
}

// Validate reports every invalid field at once, by YAML name.
func (c Configuration) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("workers: must be between 1 and 64, got %d", c.Workers))
	}
	if c.BufferMB < 2*c.Workers || c.BufferMB > 1<<15 {
		errs = append(errs, fmt.Errorf("buffer_mb: must be between 2 per worker and 32768, got %d", c.BufferMB))
	}
	positive("poll_interval", c.PollInterval)
	if len(c.Files) > 0 && c.Interface != "" {
		errs = append(errs, errors.New("files and interface: give one source, not both"))
	}
	if c.Filter != "" && c.FilterProgram != "" {
		errs = append(errs, errors.New("filter and filter_program: give one, not both"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	positive("tcp_timeout", c.TCPTimeout)
	positive("udp_timeout", c.UDPTimeout)
	positive("icmp_timeout", c.ICMPTimeout)
	positive("tcp_linger", c.TCPLinger)
	positive("tcp_attempt_timeout", c.TCPAttemptTimeout)
	positive("health_interval", c.HealthInterval)
	if c.ActiveTimeout < 0 {
		errs = append(errs, fmt.Errorf("active_timeout: must not be negative, got %s", c.ActiveTimeout))
	}
	if c.SilentAfter < 0 {
		errs = append(errs, fmt.Errorf("silent_after: must not be negative, got %s", c.SilentAfter))
	}
	if c.MaxFlows <= 0 {
		errs = append(errs, fmt.Errorf("max_flows: must be positive, got %d", c.MaxFlows))
	}
	positive("fragment_timeout", c.FragmentTimeout)
	if c.ObservationQuiet < 0 {
		errs = append(errs, fmt.Errorf("observation_quiet: must not be negative, got %s", c.ObservationQuiet))
	}
	if c.MaxFragmented < 1 {
		errs = append(errs, fmt.Errorf("max_fragmented: must be positive, got %d", c.MaxFragmented))
	}
	if c.StreamBuffer < 1024 || c.StreamBuffer > 16<<20 {
		errs = append(errs, fmt.Errorf("stream_buffer: must be between 1024 and 16777216 bytes, got %d", c.StreamBuffer))
	}
	if c.DPIPackets < 0 || c.DPIPackets > 255 {
		errs = append(errs, fmt.Errorf("dpi_packets: must be between 0 and 255, got %d", c.DPIPackets))
	}
	if c.GCHeadroomMB < 0 || c.GCHeadroomMB > 1<<14 {
		errs = append(errs, fmt.Errorf("gc_headroom_mb: must be between 0 and 16384, got %d", c.GCHeadroomMB))
	}
	return errors.Join(errs...)
}

// flowTableConfig extracts the flow table's part.
func (c Configuration) flowTableConfig() FlowTableConfig {
	return FlowTableConfig{
		TCPTimeout: c.TCPTimeout, UDPTimeout: c.UDPTimeout, ICMPTimeout: c.ICMPTimeout,
		TCPLinger: c.TCPLinger, TCPAttemptTimeout: c.TCPAttemptTimeout,
		ActiveTimeout: c.ActiveTimeout, MaxFlows: c.MaxFlows, EmitStart: c.EmitStart,
		DPIPackets: c.DPIPackets, FlipSynAck: c.FlipSynAck, ServerPorts: c.ServerPorts,
	}
}
