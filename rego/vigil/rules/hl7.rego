# Package vigil.rules.hl7 raises an alert when HL7 bypasses the interface
# engine: a new HL7 edge (a new_peer or new_port deviation with app_proto
# hl7) neither end of which is an interface engine, by classification
# (category hl7_engine) or by address (settings.hl7_engines, addresses or
# CIDRs). HL7 messages carry patient data (T0882).
package vigil.rules.hl7

import data.vigil.lib

engines := lib.setting("hl7_engines", [])

device := input.body.device

device_is_engine if lib.category(device) == "hl7_engine"

device_is_engine if lib.device_listed(device, engines)

peer_is_engine if object.get(input.body, "peer_category", "") == "hl7_engine"

peer_is_engine if lib.listed(lib.peer_ip, engines)

severity := lib.escalate("medium") if lib.is_medical(device) else := "medium"

alerts contains {
	"rule": "hl7_outside_engine",
	"severity": severity,
	"title": sprintf("%s exchanged HL7 with %s, bypassing the interface engine", [lib.device_label(device), lib.peer_text]),
	"description": sprintf("%s Neither end is an HL7 interface engine (category hl7_engine or settings.hl7_engines). %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(array.concat(["hl7"], lib.mitre(["T0882"])), lib.medical_tags),
} if {
	lib.deviation_in({"new_peer", "new_port"})
	input.body.app_proto == "hl7"
	not device_is_engine
	not peer_is_engine
}
