# Package vigil.rules.scan raises an alert when a device scans the network.
package vigil.rules.scan

import data.vigil.lib

# severity is critical when a medical device scans (a medical device has no
# business scanning: it is likely compromised), high otherwise.
severity := "critical" if lib.is_medical(input.body.device) else := "high"

alerts contains {
	"rule": "network_scan",
	"severity": severity,
	"title": sprintf("%s scanned %d hosts or ports", [
		lib.device_label(input.body.device),
		object.get(input.body, "count", 0),
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	# Network Service Discovery (ATT&CK T1046), Remote System Discovery
	# (ATT&CK for ICS T0846).
	"tags": array.concat(["discovery", "mitre:T1046", "mitre:T0846"], lib.medical_tags),
} if lib.deviation("scan")
