# Package vigil.rules.firmware_downgrade raises an alert when a device's
# firmware, software or hardware version goes down: a downgrade can bring
# back vulnerabilities the newer version fixed, and is how malicious
# firmware is often installed. Critical for a medical device.
package vigil.rules.firmware_downgrade

import data.vigil.lib

versions := {"firmware_version", "software_version", "hardware_version"}

firing if {
	lib.deviation("identity_change")
	input.body.change == "downgrade"
	input.body.attribute in versions
}

severity := "critical" if lib.is_medical(input.body.device) else := "high"

alerts contains {
	"rule": "firmware_downgrade",
	"severity": severity,
	"title": sprintf("%s %s downgraded from %s to %s", [
		lib.device_label(input.body.device),
		replace(input.body.attribute, "_", " "),
		object.get(input.body, "previous", "?"),
		object.get(input.body, "value", "?"),
	]),
	"description": input.body.summary,
	"tags": array.concat(array.concat(["identity", "firmware"], lib.mitre(["T0857"])), lib.medical_tags),
} if firing
