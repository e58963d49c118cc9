// Package netclass classifies addresses the same way in every engine:
// which addresses belong to the monitored network, which are the internet,
// and which MACs are group addresses rather than devices.
package netclass

import (
	"net/netip"
	"strconv"
)

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// IsLocal says whether an address belongs to the monitored network rather
// than the internet: private (RFC 1918), unique local, link local, shared
// (RFC 6598, carrier-grade NAT) or loopback unicast addresses.
func IsLocal(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == broadcast {
		return false
	}
	return a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLoopback() || cgnat.Contains(a)
}

// IsInternet says whether an address is a unicast address outside the
// monitored network.
func IsInternet(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != broadcast && !IsLocal(a)
}

// IsLocalString is IsLocal for text addresses; invalid text is not local.
func IsLocalString(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && IsLocal(a)
}

// IsInternetString is IsInternet for text addresses.
func IsInternetString(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && IsInternet(a)
}

// IsGroupMAC reports broadcast and multicast MAC addresses (the I/G bit of
// the first octet), which never name a device.
func IsGroupMAC(mac string) bool {
	if len(mac) < 2 {
		return false
	}
	b, err := strconv.ParseUint(mac[:2], 16, 8)
	return err == nil && b&1 == 1
}

// IsLocallyAdministered reports MACs with the U/L bit set: randomised
// (private Wi-Fi addresses) or assigned by software, so the OUI says
// nothing of the vendor.
func IsLocallyAdministered(mac string) bool {
	if len(mac) < 2 {
		return false
	}
	b, err := strconv.ParseUint(mac[:2], 16, 8)
	return err == nil && b&2 == 2
}
