package netclass

import (
	"fmt"
	"net/netip"
)

// DefaultLocal are the networks taken as the monitored network when none
// are configured: RFC 1918, RFC 6598 shared space, unique local and link
// local addresses.
var DefaultLocal = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10", "169.254.0.0/16"}

// Networks says which addresses belong to the monitored network. Hospitals
// that number their network from public space list it in the
// configuration (networks.local), as Zeek's Site::local_nets does.
type Networks struct {
	local []netip.Prefix
}

// NewNetworks parses CIDR prefixes; empty means DefaultLocal.
func NewNetworks(cidrs []string) (*Networks, error) {
	if len(cidrs) == 0 {
		cidrs = DefaultLocal
	}
	n := &Networks{}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", c)
		}
		n.local = append(n.local, p.Masked())
	}
	return n, nil
}

// MustNetworks is NewNetworks for constant input.
func MustNetworks(cidrs ...string) *Networks {
	n, err := NewNetworks(cidrs)
	if err != nil {
		panic(err)
	}
	return n
}

// IsLocal says whether a is a unicast address of the monitored network.
func (n *Networks) IsLocal(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == broadcast {
		return false
	}
	if a.IsLoopback() {
		return true
	}
	for _, p := range n.local {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IsInternet says whether a is a unicast address outside the monitored
// network.
func (n *Networks) IsInternet(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != broadcast && !n.IsLocal(a)
}

// IsLocalString is IsLocal for text; invalid text is not local.
func (n *Networks) IsLocalString(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && n.IsLocal(a)
}

// Configuration is the networks section of the configuration.
type Configuration struct {
	// Local lists the CIDR prefixes of the monitored network. Addresses
	// outside them are the internet. Default: private, shared, unique
	// local and link-local space.
	Local []string `yaml:"local"`
}

// Validate reports every prefix that does not parse.
func (c Configuration) Validate() []error {
	var errs []error
	for i, s := range c.Local {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("local[%d]: %q is not a CIDR prefix", i, s))
		}
	}
	return errs
}
