# Package vigil.rules.new_peer raises an alert when a device talks to a peer
# its baseline has never seen. Life-sustaining devices get the
# life_sustaining_new_peer alert instead (vigil.rules.life_sustaining).
package vigil.rules.new_peer

import data.vigil.lib

alerts contains {
	"rule": "new_peer",
	"severity": lib.edge_severity,
	"title": sprintf("%s talked to new peer %s", [
		lib.device_label(input.body.device),
		lib.peer_text,
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline"], lib.medical_tags),
} if {
	lib.deviation("new_peer")
	not lib.keeps_patient_alive(input.body.device)
}
