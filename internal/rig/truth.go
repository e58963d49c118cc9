package rig

// Truth is truth.json: what the rig configured, as far as the capture
// holds it (rig/truth.py refuses to write anything the capture
// contradicts). The field comments say where each value comes from.
type Truth struct {
	// Schema is the version of this format; Record refuses others.
	Schema int `json:"schema"`
	// RecordedAt is when the recording finished (UTC, RFC 3339).
	RecordedAt string `json:"recorded_at"`
	// Capture is the capture's file name beside truth.json.
	Capture string `json:"capture"`
	// Frames is the number of frames in the capture.
	Frames int `json:"frames"`
	// Networks are the rig's address plan (documentation ranges only).
	Networks Networks `json:"networks"`
	// Tools are identification strings of the software whose banners the
	// truth holds ("sshd": "OpenSSH_9.2p1 Debian-2+deb12u10", ...).
	Tools map[string]string `json:"tools"`
	// Packages are the Debian package versions that played the devices.
	Packages map[string]string `json:"packages"`
	// Devices are the devices on the bridge, in the order they were set up.
	Devices []Device `json:"devices"`
	// InternetHosts live outside the bridge, behind the router: the
	// capture sees them only as addresses in frames to and from the
	// router's MAC.
	InternetHosts []InternetHost `json:"internet_hosts"`
	// ForbiddenStrings must never appear in anything Vigil stores,
	// publishes or logs: the synthetic patient's data and the secrets the
	// scenarios sent.
	ForbiddenStrings []Forbidden `json:"forbidden_strings"`
	// Auth are the authentication outcomes the scenarios produced.
	Auth []AuthOutcome `json:"auth"`
}

// Networks is the rig's address plan.
type Networks struct {
	LAN      string `json:"lan"`      // "192.0.2.0/24"
	Gateway  string `json:"gateway"`  // the router's LAN address
	DNS      string `json:"dns"`      // the DHCP and DNS server
	Internet string `json:"internet"` // "203.0.113.0/24"
}

// Device is one namespace on the bridge.
type Device struct {
	Name      string `json:"name"`      // "ct", "pacs", "pump", ...
	Namespace string `json:"namespace"` // "vrig-ct"
	Role      string `json:"role"`      // what it plays, in words
	// Class is "medical", "it" or "network".
	Class string `json:"class"`
	// MAC is lower-case, colon-separated, with a real OUI of its class.
	MAC string `json:"mac"`
	// OUIVendor is the OUI's organisation in Wireshark's manuf file.
	OUIVendor string `json:"oui_vendor"`
	// IPs are every IPv4 address it had on the LAN, in the order it had
	// them (a DHCP client that changed address has two).
	IPs []string `json:"ips"`
	// Addressing is "static" or "dhcp".
	Addressing string `json:"addressing"`
	VLAN       uint16 `json:"vlan"`
	// Frames is the number of frames the capture holds from MAC.
	Frames int `json:"frames"`
	// Attributes are the identity facts the capture carries for this
	// device, keyed by Vigil's attribute names (capture/dpi/attributes.go),
	// each with every value it has (usually one).
	Attributes map[string][]string `json:"attributes"`
}

// Attr returns the first value of attribute name, or "" if the device
// has none.
func (d Device) Attr(name string) string {
	if v := d.Attributes[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// InternetHost is a host in the "internet" namespace.
type InternetHost struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	IP        string `json:"ip"`
	// Via names the device whose MAC carries its traffic on the bridge.
	Via string `json:"via"`
	// ContactedBy names the devices that talked to it.
	ContactedBy []string `json:"contacted_by"`
}

// Forbidden is one string that must never leave the sensor.
type Forbidden struct {
	Value string `json:"value"`
	// Kind is "patient" (synthetic patient data), "password" or
	// "credential" (an encoded password, a community name).
	Kind string `json:"kind"`
	// OnWire tells whether the value is in the capture as is (the rig
	// checks it); a password that travels only base64-encoded is not.
	OnWire bool `json:"on_wire"`
}

// AuthOutcome is one authentication attempt the scenarios made, shaped
// like events.Auth.
type AuthOutcome struct {
	Protocol  string `json:"protocol"`  // "dicom", "snmp", "ssh", "telnet", "http"
	Method    string `json:"method"`    // "ae-title", "community", "publickey", "login", "basic"
	Principal string `json:"principal"` // AE title or user name; never a secret
	Client    string `json:"client"`    // device name
	ClientMAC string `json:"client_mac"`
	ClientIP  string `json:"client_ip"`
	Server    string `json:"server"` // device name
	ServerMAC string `json:"server_mac"`
	ServerIP  string `json:"server_ip"`
	Result    string `json:"result"` // "success" or "failure"
	Reason    string `json:"reason"`
	// Evidence says what in the capture shows the result ("encrypted: ..."
	// when nothing does).
	Evidence string `json:"evidence"`
}

// Device returns the device called name.
func (t *Truth) Device(name string) (Device, bool) {
	for _, d := range t.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// DeviceByMAC returns the device whose MAC is mac (lower-case).
func (t *Truth) DeviceByMAC(mac string) (Device, bool) {
	for _, d := range t.Devices {
		if d.MAC == mac {
			return d, true
		}
	}
	return Device{}, false
}

// Forbidden returns the values of the forbidden strings.
func (t *Truth) Forbidden() []string {
	out := make([]string, 0, len(t.ForbiddenStrings))
	for _, f := range t.ForbiddenStrings {
		out = append(out, f.Value)
	}
	return out
}
