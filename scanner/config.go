package scanner

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/scanner/insightvm"
)

// Configuration is the scanner section of Vigil's configuration.
type Configuration struct {
	// InsightVM is the console whose sites Vigil keeps in sync; without a
	// url the sync is off (exports and imports still work).
	InsightVM insightvm.Configuration `yaml:"insightvm"`
	// Sites are the InsightVM sites to manage, by name or numeric ID;
	// empty manages every site (new sites are picked up at the next
	// sync).
	Sites []string `yaml:"sites"`
	// Interval is the period of a full reconciliation (read back every
	// site, repair drift); device changes trigger one sooner, after
	// Debounce (several changes in a burst make one sync).
	Interval time.Duration `yaml:"interval"`
	Debounce time.Duration `yaml:"debounce"`
	// ExtraExclusions are addresses, ranges or CIDRs excluded in every
	// managed site besides the medical devices (a whole clinical VLAN, a
	// device the sensor cannot see).
	ExtraExclusions []string `yaml:"extra_exclusions"`
	// OwnList makes Vigil the owner of the managed sites' excluded
	// targets: the list is replaced by Vigil's (other entries are removed
	// and reported as drift). Off by default: Vigil adds and removes only
	// the addresses it added itself, remembered by device ID.
	OwnList bool `yaml:"own_list"`
	// DryRun computes and reports every change without applying any.
	DryRun bool `yaml:"dry_run"`
	// Tags pushes the medical devices to InsightVM as tags:
	// "<prefix>medical", "<prefix><category>" and "<prefix><CVE>" for
	// each clinical vulnerability. Vigil owns every tag whose name starts
	// with TagPrefix.
	Tags      bool   `yaml:"tags"`
	TagPrefix string `yaml:"tag_prefix"`
	// ImportFindings reads the asset vulnerabilities of the non-medical
	// devices back from InsightVM at every full sync.
	ImportFindings bool `yaml:"import_findings"`
	// ScanEngines are the addresses (or CIDRs) of the active scanners'
	// engines; a flow from one of them to an excluded device raises a
	// scanned_while_excluded deviation. Devices the baseline reports
	// scanning the network count as engines too.
	ScanEngines []string `yaml:"scan_engines"`
	// AlertWindow is how long (event time) one engine contacting one
	// excluded device raises one deviation, not one per flow.
	AlertWindow time.Duration `yaml:"alert_window"`
}

// DefaultConfiguration has the InsightVM sync off and everything else on
// once a console is configured.
func DefaultConfiguration() Configuration {
	return Configuration{
		InsightVM: insightvm.DefaultConfiguration(),
		Interval:  15 * time.Minute, Debounce: 5 * time.Second,
		Tags: true, TagPrefix: "Vigil: ", ImportFindings: true, AlertWindow: time.Hour,
	}
}

// Validate reports every problem, naming fields relative to the section.
func (c Configuration) Validate() []error {
	var errs []error
	for _, e := range c.InsightVM.Validate() {
		errs = append(errs, fmt.Errorf("insightvm.%w", e))
	}
	if c.Interval < time.Minute {
		errs = append(errs, fmt.Errorf("interval: must be at least 1m, got %s", c.Interval))
	}
	if c.Debounce < 0 || c.Debounce > c.Interval {
		errs = append(errs, fmt.Errorf("debounce: must be between 0 and interval, got %s", c.Debounce))
	}
	for i, a := range c.ExtraExclusions {
		if err := CheckTarget(a); err != nil {
			errs = append(errs, fmt.Errorf("extra_exclusions[%d]: %w", i, err))
		}
	}
	for i, a := range c.ScanEngines {
		if _, err := ParseEngine(a); err != nil {
			errs = append(errs, fmt.Errorf("scan_engines[%d]: %w", i, err))
		}
	}
	for i, s := range c.Sites {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("sites[%d]: empty", i))
		}
	}
	if c.Tags && strings.TrimSpace(c.TagPrefix) == "" {
		errs = append(errs, errors.New("tag_prefix: must not be empty when tags are on (Vigil owns the tags with this prefix)"))
	}
	if c.AlertWindow <= 0 {
		errs = append(errs, fmt.Errorf("alert_window: must be positive, got %s", c.AlertWindow))
	}
	return errs
}

// Redacted returns a copy without secrets, for dumps.
func (c Configuration) Redacted() Configuration {
	c.InsightVM = c.InsightVM.Redacted()
	return c
}

// CheckTarget accepts what every exclusion format can express: an IP
// address, a CIDR or a range "first-last" of one family.
func CheckTarget(s string) error {
	s = strings.TrimSpace(s)
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 == nil && err2 == nil && a.Is4() == b.Is4() && !b.Less(a) {
			return nil
		}
	}
	return fmt.Errorf("%q: want an IP address, a CIDR or a range first-last", s)
}

// ParseEngine reads a scan engine address or CIDR.
func ParseEngine(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%q: want an IP address or a CIDR", s)
	}
	return p.Masked(), nil
}

// SiteMatches says whether a site (ID and name) is one of the configured
// ones (all when none are).
func (c Configuration) SiteMatches(id int, name string) bool {
	if len(c.Sites) == 0 {
		return true
	}
	for _, s := range c.Sites {
		s = strings.TrimSpace(s)
		if strings.EqualFold(s, name) || s == strconv.Itoa(id) {
			return true
		}
	}
	return false
}

// CompareTargets orders addresses numerically (IPv4 before IPv6), then
// anything else as text.
func CompareTargets(a, b string) int {
	pa, errA := targetStart(a)
	pb, errB := targetStart(b)
	switch {
	case errA == nil && errB == nil:
		if c := pa.Compare(pb); c != 0 {
			return c
		}
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// targetStart is the first address of a target.
func targetStart(s string) (netip.Addr, error) {
	if lo, _, ok := strings.Cut(s, "-"); ok {
		return netip.ParseAddr(strings.TrimSpace(lo))
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().Addr(), nil
	}
	return netip.ParseAddr(s)
}
