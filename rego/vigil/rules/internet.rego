# Package vigil.rules.internet raises an alert when a device talks to an
# address on the internet, and asks to block a medical device's new
# internet destination.
package vigil.rules.internet

import data.vigil.lib

# firing is true for an internet deviation whose peer is not allowed by
# settings.internet_allow.
firing if {
	lib.deviation("internet")
	not lib.internet_allowed(lib.peer_ip)
}

# severity is critical for a medical device, high otherwise.
severity := "critical" if lib.is_medical(input.body.device) else := "high"

alerts contains {
	"rule": "internet_communication",
	"severity": severity,
	"title": sprintf("%s communicated with internet address %s", [
		lib.device_label(input.body.device),
		lib.peer_text,
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["internet"], lib.medical_tags),
} if firing

# A medical device reaching a new internet destination is blocked for that
# destination only, unless settings.block_internet_medical is false. The
# enforce engine's patient-safety gate still decides whether to apply it.
enforce contains {
	"scope": {
		"ip": ip,
		"peer_ip": lib.peer_ip,
		"port": object.get(input.body, "port", 0),
		"transport": object.get(input.body, "transport", ""),
	},
	"duration_s": lib.setting("block_duration_s", 3600),
	"reason": sprintf("internet_communication: medical device %s reached %s", [
		lib.device_label(input.body.device),
		lib.peer_text,
	]),
} if {
	firing
	lib.peer_ip != ""
	lib.is_medical(input.body.device)
	lib.setting("block_internet_medical", true) == true
	some ip in input.body.device.ips
}
