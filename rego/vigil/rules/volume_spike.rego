# Package vigil.rules.volume_spike raises an alert when a device moves far
# more traffic in an hour than it learned to (the baseline's volume_spike:
# above max(baseline.volume_factor × its learned 95th percentile,
# baseline.volume_floor_bytes)).
package vigil.rules.volume_spike

import data.vigil.lib

severity := lib.escalate("medium") if lib.is_medical(input.body.device) else := "medium"

usual := sprintf("%vx its learned 95th percentile", [input.body.baseline.ratio]) if {
	input.body.baseline.ratio > 0
} else := "its learned hours were silent"

alerts contains {
	"rule": "volume_spike",
	"severity": severity,
	"title": sprintf("%s moved %s in one hour (%s)", [
		lib.device_label(input.body.device),
		lib.bytes_text(object.get(input.body.baseline, "observed", 0)),
		usual,
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline", "volume"], lib.medical_tags),
} if lib.deviation("volume_spike")
