// Package netclass classifies addresses the same way in every engine:
// which addresses belong to the monitored network, which are the internet,
// and which MACs are group addresses rather than devices.
package netclass

import (
	"net/netip"
	"strconv"
)

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

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
