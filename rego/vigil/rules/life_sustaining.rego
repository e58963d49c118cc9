# Package vigil.rules.life_sustaining raises a critical alert when a
# life-sustaining device (criticality life_sustaining: infusion pumps,
# ventilators, anaesthesia, dialysis) talks to a peer its baseline never
# saw. It replaces the generic new_peer alert for those devices.
package vigil.rules.life_sustaining

import data.vigil.lib

severity := "critical" if lib.baseline_ready else := "high"

alerts contains {
	"rule": "life_sustaining_new_peer",
	"severity": severity,
	"title": sprintf("Life-sustaining device %s talked to new peer %s", [
		lib.device_label(input.body.device),
		lib.peer_text,
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline", "life-sustaining"], lib.medical_tags),
} if {
	lib.deviation("new_peer")
	lib.keeps_patient_alive(input.body.device)
}
