# Package vigil.rules.new_protocol raises an alert when a device speaks an
# application protocol its baseline has never seen.
package vigil.rules.new_protocol

import data.vigil.lib

alerts contains {
	"rule": "new_protocol",
	"severity": lib.edge_severity,
	"title": sprintf("%s spoke new protocol %s", [
		lib.device_label(input.body.device),
		object.get(input.body, "app_proto", "unknown"),
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline"], lib.medical_tags),
} if lib.deviation("new_protocol")
