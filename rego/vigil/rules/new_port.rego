# Package vigil.rules.new_port raises an alert when a device uses a server
# port its baseline has never seen.
package vigil.rules.new_port

import data.vigil.lib

alerts contains {
	"rule": "new_port",
	"severity": lib.edge_severity,
	"title": sprintf("%s used new port %s/%d", [
		lib.device_label(input.body.device),
		object.get(input.body, "transport", "ip"),
		object.get(input.body, "port", 0),
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline"], lib.medical_tags),
} if lib.deviation("new_port")
