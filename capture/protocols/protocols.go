// Package protocols is the explicit list of the protocols this build
// understands: the identifiers that name application protocols and the
// dissectors that read device facts from them. Adding a protocol is one
// line here. It lives apart from package capture so that dissector tests
// can run the capture pipeline (capture/dpitest) without an import cycle.
package protocols

import (
	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpi/arp"
	"github.com/vigil-health/vigil/capture/dpi/bacnet"
	"github.com/vigil-health/vigil/capture/dpi/cdp"
	"github.com/vigil-health/vigil/capture/dpi/dhcp"
	"github.com/vigil-health/vigil/capture/dpi/dhcp6"
	"github.com/vigil-health/vigil/capture/dpi/dicom"
	"github.com/vigil-health/vigil/capture/dpi/dns"
	"github.com/vigil-health/vigil/capture/dpi/enip"
	"github.com/vigil-health/vigil/capture/dpi/ftp"
	"github.com/vigil-health/vigil/capture/dpi/hl7"
	"github.com/vigil-health/vigil/capture/dpi/http"
	"github.com/vigil-health/vigil/capture/dpi/lldp"
	"github.com/vigil-health/vigil/capture/dpi/mdns"
	"github.com/vigil-health/vigil/capture/dpi/modbus"
	"github.com/vigil-health/vigil/capture/dpi/netbios"
	"github.com/vigil-health/vigil/capture/dpi/ntp"
	"github.com/vigil-health/vigil/capture/dpi/poct1a"
	"github.com/vigil-health/vigil/capture/dpi/rdp"
	"github.com/vigil-health/vigil/capture/dpi/smb"
	"github.com/vigil-health/vigil/capture/dpi/snmp"
	"github.com/vigil-health/vigil/capture/dpi/ssdp"
	"github.com/vigil-health/vigil/capture/dpi/ssh"
	"github.com/vigil-health/vigil/capture/dpi/syslog"
	"github.com/vigil-health/vigil/capture/dpi/telnet"
	"github.com/vigil-health/vigil/capture/dpi/tls"
)

// Dissectors returns a fresh set of the dissectors of this build (each
// capture worker needs its own: dissectors keep scratch state).
func Dissectors() []any {
	return []any{
		arp.New(),
		dhcp.New(),
		dicom.New(),
		hl7.New(),
		poct1a.New(),
		telnet.New(),
		ftp.New(),
		smb.New(),
		rdp.New(),
		bacnet.New(),
		enip.New(),
		modbus.New(),
		lldp.New(),
		cdp.New(),
		snmp.New(),
		dhcp6.New(),
		syslog.New(),
		ntp.New(),
		tls.New(),
		ssh.New(),
		http.New(),
		mdns.New(),
		ssdp.New(),
		netbios.New(),
		dns.New(),
	}
}

// Identifiers returns the protocol identifiers of this build, in the
// order they are tried.
func Identifiers() *dpi.Identifiers { return dpi.DefaultIdentifiers() }
