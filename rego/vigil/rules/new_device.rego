# Package vigil.rules.new_device raises an alert when a device appears that
# the network has never seen: low when it is not yet identified, info once
# the inventory has classified it.
package vigil.rules.new_device

import data.vigil.lib

severity := "info" if lib.is_identified(input.body.device) else := "low"

alerts contains {
	"rule": "new_device",
	"severity": severity,
	"title": sprintf("New device %s", [lib.device_label(input.body.device)]),
	"description": input.body.summary,
	"tags": array.concat(["inventory"], lib.medical_tags),
} if lib.deviation("new_device")
