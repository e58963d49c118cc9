package inventory

import (
	"fmt"
	"net/netip"
	"time"
)

// Configuration of the inventory.
type Configuration struct {
	// MaxDevices bounds the projection; devices past it are counted.
	MaxDevices int `yaml:"max_devices"`
	// GatewayAddresses is the number of distinct local addresses one MAC
	// may carry in traffic before it is taken for a router: the addresses
	// behind it then become devices of their own, known by IP only.
	GatewayAddresses int `yaml:"gateway_addresses"`
	// OfflineAfter is the silence (in event time) after which a device is
	// reported offline.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// UsageDays is how many days of utilisation each device keeps.
	UsageDays int `yaml:"usage_days"`
	// Timezone is the hospital's time zone (IANA name), for days and
	// active hours.
	Timezone string `yaml:"timezone"`
	// Organisation maps subnets and VLANs to site, segment, department and
	// location. The most specific match wins: a CIDR match over a VLAN
	// match, a longer prefix over a shorter one.
	Organisation []OrgRule `yaml:"organisation"`
	// RulesDir holds site classification rules (YAML) that extend or
	// override the shipped ones.
	RulesDir string `yaml:"rules_dir"`
	// AssetRegister is a CMMS/asset-register CSV export to reconcile with.
	AssetRegister string `yaml:"asset_register"`
}

// OrgRule assigns organisation fields to the devices of a subnet or VLAN.
type OrgRule struct {
	CIDR       string `yaml:"cidr"`
	VLAN       uint16 `yaml:"vlan"`
	Site       string `yaml:"site"`
	Segment    string `yaml:"segment"`
	Department string `yaml:"department"`
	Location   string `yaml:"location"`
}

// DefaultConfiguration suits a hospital of up to 100 000 devices.
func DefaultConfiguration() Configuration {
	return Configuration{
		MaxDevices: 100_000, GatewayAddresses: 16, OfflineAfter: 15 * time.Minute,
		UsageDays: 35, Timezone: "UTC",
	}
}

// Validate reports every problem, naming fields within the section.
func (c Configuration) Validate() []error {
	var errs []error
	if c.MaxDevices < 1 {
		errs = append(errs, fmt.Errorf("max_devices: must be positive, got %d", c.MaxDevices))
	}
	if c.GatewayAddresses < 2 {
		errs = append(errs, fmt.Errorf("gateway_addresses: must be at least 2, got %d", c.GatewayAddresses))
	}
	if c.OfflineAfter <= 0 {
		errs = append(errs, fmt.Errorf("offline_after: must be positive, got %s", c.OfflineAfter))
	}
	if c.UsageDays < 1 || c.UsageDays > 400 {
		errs = append(errs, fmt.Errorf("usage_days: must be between 1 and 400, got %d", c.UsageDays))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %v", err))
	}
	for i, r := range c.Organisation {
		if r.CIDR == "" && r.VLAN == 0 {
			errs = append(errs, fmt.Errorf("organisation[%d]: needs a cidr or a vlan", i))
		}
		if r.CIDR != "" {
			if _, err := netip.ParsePrefix(r.CIDR); err != nil {
				errs = append(errs, fmt.Errorf("organisation[%d].cidr: %v", i, err))
			}
		}
		if r.VLAN > 4094 {
			errs = append(errs, fmt.Errorf("organisation[%d].vlan: must be 1-4094, got %d", i, r.VLAN))
		}
		if r.Site == "" && r.Segment == "" && r.Department == "" && r.Location == "" {
			errs = append(errs, fmt.Errorf("organisation[%d]: assigns nothing (set site, segment, department or location)", i))
		}
	}
	return errs
}
