# Package vigil.rules.identity_change raises an alert when a device's
# identity changes other than by a version downgrade (firmware_downgrade):
# another model, vendor or serial number behind the same address (a swap
# or a spoof), a serial number already presented by another device, or a
# version upgrade (info, for change tracking).
package vigil.rules.identity_change

import data.vigil.lib

change := object.get(input.body, "change", "changed")

# A serial number presented by two devices: a clone or a masquerade
# (T0849), high. Another model, vendor or serial behind the same MAC:
# medium. Both one step up for a medical device. An upgrade is info.
base_severity := "high" if {
	change == "conflict"
} else := "medium" if {
	change == "changed"
} else := "info"

severity := lib.escalate(base_severity) if {
	base_severity != "info"
	lib.is_medical(input.body.device)
} else := base_severity

title := sprintf("%s presents serial number %s of another device (%s)", [
	lib.device_label(input.body.device),
	input.body.value,
	lib.peer_text,
]) if {
	change == "conflict"
} else := sprintf("%s %s changed from %s to %s", [
	lib.device_label(input.body.device),
	replace(input.body.attribute, "_", " "),
	object.get(input.body, "previous", "?"),
	object.get(input.body, "value", "?"),
])

techniques := [] if change == "upgrade" else := ["T0849"]

alerts contains {
	"rule": "identity_change",
	"severity": severity,
	"title": title,
	"description": input.body.summary,
	"tags": array.concat(array.concat(["identity"], lib.mitre(techniques)), lib.medical_tags),
} if {
	lib.deviation("identity_change")
	change != "downgrade"
}
