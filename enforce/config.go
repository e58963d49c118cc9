package enforce

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-health/vigil/events"
)

// Configuration of the enforcement engine. The safe choices are the
// defaults: dry-run, approval for life-sustaining and patient-connected
// devices, a rate limit, and no enforcement point configured.
type Configuration struct {
	// DryRun records and gates every request without applying anything.
	// It is fixed per block when the block is requested.
	DryRun bool `yaml:"dry_run"`
	// KillSwitch forces the kill switch on: every backend is emptied of
	// Vigil's entries and nothing is applied, whatever the runtime toggle
	// says.
	KillSwitch bool `yaml:"kill_switch"`
	// ApprovalCriticalities are the device criticalities (see
	// events.DeviceSnapshot) whose blocks wait for a person's approval.
	ApprovalCriticalities []string `yaml:"approval_criticalities"`
	// HoldUnclassified also holds blocks of devices whose criticality is
	// unknown. Medical devices of unknown criticality are always held.
	HoldUnclassified bool `yaml:"hold_unclassified"`
	// CriticalSystems are never blocked without an approval of the block.
	CriticalSystems []CriticalSystem `yaml:"critical_systems"`
	// RateLimit bounds new blocks that pass the gate without a person.
	RateLimit RateLimitConfiguration `yaml:"rate_limit"`
	// ReconcileInterval is how often each backend is compared with the
	// desired set when nothing changed; a change triggers a pass at once.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// RetryInitial and RetryMax bound the exponential backoff for an
	// enforcement point that fails.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// AwaitAlert is how long (event time) a decision's blocks wait for the
	// alert that carries the device snapshot before the gate judges them
	// without it (and holds them: the device is then unknown).
	AwaitAlert time.Duration `yaml:"await_alert"`
	// Retain is how long a block stays in the key-value bucket after it
	// expired, so that it can be listed and audited there; the events
	// stay in VIGIL_V1_ENFORCE for the stream's retention.
	Retain time.Duration `yaml:"retain"`
	// Bucket is the JetStream key-value bucket of the desired set, Durable
	// the consumer of decisions and alerts.
	Bucket  string `yaml:"bucket"`
	Durable string `yaml:"durable"`
	// NFTables configures the nftables backend (enforce/nft).
	NFTables NFTablesConfiguration `yaml:"nftables"`
}

// CriticalSystem is a system whose loss stops care (PACS, EHR, the HL7
// engine): no block touching it is applied without an approval.
type CriticalSystem struct {
	Name string `yaml:"name"`
	// Addresses are IP addresses or CIDR prefixes; Devices device keys or
	// MAC addresses.
	Addresses []string `yaml:"addresses"`
	Devices   []string `yaml:"devices"`
}

// RateLimitConfiguration is a token bucket refilled in event time.
type RateLimitConfiguration struct {
	// Blocks new blocks are allowed per Per, with bursts up to Burst.
	// Blocks 0 turns the limit off.
	Blocks int           `yaml:"blocks"`
	Per    time.Duration `yaml:"per"`
	Burst  int           `yaml:"burst"`
}

// NFTablesConfiguration configures the nftables backend.
type NFTablesConfiguration struct {
	// Enabled turns the backend on.
	Enabled bool `yaml:"enabled"`
	// Table is Vigil's own table in the inet family; nothing else is
	// touched.
	Table string `yaml:"table"`
	// NetNS is the path of a network namespace to enforce in (for example
	// /var/run/netns/fw); empty means the namespace of the process.
	NetNS string `yaml:"netns"`
	// TimeoutGrace is added to each element's kernel timeout beyond the
	// block's end, so the kernel drops a forgotten element on its own
	// while the reconciler stays the authority; 0 disables timeouts.
	TimeoutGrace time.Duration `yaml:"timeout_grace"`
}

// DefaultConfiguration is dry-run with the patient-safety gate on.
func DefaultConfiguration() Configuration {
	return Configuration{
		DryRun:                true,
		ApprovalCriticalities: []string{"life_sustaining", "patient_connected"},
		RateLimit:             RateLimitConfiguration{Blocks: 10, Per: time.Minute, Burst: 20},
		ReconcileInterval:     30 * time.Second,
		RetryInitial:          time.Second,
		RetryMax:              5 * time.Minute,
		AwaitAlert:            time.Minute,
		Retain:                24 * time.Hour,
		Bucket:                "VIGIL_ENFORCE",
		Durable:               "enforce",
		NFTables:              NFTablesConfiguration{Table: "vigil", TimeoutGrace: 10 * time.Minute},
	}
}

var criticalities = []string{"life_sustaining", "patient_connected", "clinical_support", "non_clinical", "unknown"}

// Validate reports every problem, naming fields relative to the enforce
// section.
func (c Configuration) Validate() []error {
	var errs []error
	for i, cr := range c.ApprovalCriticalities {
		if !slices.Contains(criticalities, cr) {
			errs = append(errs, fmt.Errorf("approval_criticalities[%d]: %q: want one of %v", i, cr, criticalities))
		}
	}
	for i, s := range c.CriticalSystems {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("critical_systems[%d].name: required", i))
		}
		if len(s.Addresses) == 0 && len(s.Devices) == 0 {
			errs = append(errs, fmt.Errorf("critical_systems[%d]: names no addresses and no devices", i))
		}
		for j, a := range s.Addresses {
			if _, err := parsePrefix(a); err != nil {
				errs = append(errs, fmt.Errorf("critical_systems[%d].addresses[%d]: %w", i, j, err))
			}
		}
	}
	if r := c.RateLimit; r.Blocks < 0 || (r.Blocks > 0 && (r.Per <= 0 || r.Burst < 1)) {
		errs = append(errs, fmt.Errorf("rate_limit: blocks %d per %s burst %d: want blocks >= 0, and a positive per and burst when blocks > 0", r.Blocks, r.Per, r.Burst))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"reconcile_interval", c.ReconcileInterval}, {"retry_initial", c.RetryInitial}, {"retry_max", c.RetryMax}, {"await_alert", c.AwaitAlert}, {"retain", c.Retain}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", d.name, d.v))
		}
	}
	if c.RetryMax < c.RetryInitial {
		errs = append(errs, fmt.Errorf("retry_max: %s is shorter than retry_initial %s", c.RetryMax, c.RetryInitial))
	}
	if c.Bucket == "" {
		errs = append(errs, fmt.Errorf("bucket: required"))
	}
	if c.Durable == "" {
		errs = append(errs, fmt.Errorf("durable: required"))
	}
	if c.NFTables.Enabled && c.NFTables.Table == "" {
		errs = append(errs, fmt.Errorf("nftables.table: required when nftables is enabled"))
	}
	if c.NFTables.TimeoutGrace < 0 {
		errs = append(errs, fmt.Errorf("nftables.timeout_grace: must not be negative, got %s", c.NFTables.TimeoutGrace))
	}
	return errs
}

// parsePrefix reads an address or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Scope kinds, for backends and counts.
const (
	ScopeAddress = "address" // one address: all its traffic
	ScopePair    = "pair"    // traffic between two addresses
	ScopeService = "service" // one address's traffic on a port
	ScopeFlow    = "flow"    // traffic between two addresses on a port
	ScopeMAC     = "mac"     // a link-layer address (NAC)
)

// ScopeKind classifies a canonical scope; "" when it names nothing.
func ScopeKind(s events.BlockScope) string {
	switch {
	case s.IP != "" && s.PeerIP != "" && s.Port != 0:
		return ScopeFlow
	case s.IP != "" && s.PeerIP != "":
		return ScopePair
	case (s.IP != "" || s.PeerIP != "") && s.Port != 0:
		return ScopeService
	case s.IP != "" || s.PeerIP != "":
		return ScopeAddress
	case s.MAC != "":
		return ScopeMAC
	}
	return ""
}
