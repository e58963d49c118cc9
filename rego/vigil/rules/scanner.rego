# Package vigil.rules.scanner raises alerts from the scanner integration
# (docs/scanners.md): an active scanner reached a device it must leave
# alone, or the scanner's exclusion list was changed behind Vigil's back.
package vigil.rules.scanner

import data.vigil.lib

# An active scan can crash an infusion pump or a patient monitor: critical
# for a medical device, high for anything else excluded by configuration.
scanned_severity := "critical" if lib.is_medical(input.body.device) else := "high"

alerts contains {
	"rule": "scanned_while_excluded",
	"severity": scanned_severity,
	"title": sprintf("%s was actively scanned by %s although excluded", [
		lib.device_label(input.body.device),
		object.get(object.get(input.body, "peer", {}), "ip", "an unknown engine"),
	]),
	"description": input.body.summary,
	# Network Service Discovery (ATT&CK T1046), Remote System Discovery
	# (ATT&CK for ICS T0846).
	"tags": array.concat(["scanner", "patient-safety", "mitre:T1046", "mitre:T0846"], lib.medical_tags),
} if lib.deviation("scanned_while_excluded")

# Vigil repairs the drift itself; the alert says that someone or something
# changed the scanner's exclusions, which the scanner team must know.
alerts contains {
	"rule": "scanner_exclusion_drift",
	"severity": "medium",
	"title": sprintf("Scanner exclusion of %s was changed outside Vigil", [lib.device_label(input.body.device)]),
	"description": input.body.summary,
	"tags": array.concat(["scanner"], lib.medical_tags),
} if lib.deviation("scanner_exclusion_drift")
