# Package vigil.rules.off_hours raises an alert when a device originates
# traffic in an hour of the day in which it was never active while
# learning (the baseline's off_hours; judged only after
# baseline.off_hours_min_learning of learning).
package vigil.rules.off_hours

import data.vigil.lib

severity := lib.escalate("low") if lib.is_medical(input.body.device) else := "low"

alerts contains {
	"rule": "off_hours_activity",
	"severity": severity,
	"title": sprintf("%s was active at %s:00, outside its usual hours", [
		lib.device_label(input.body.device),
		object.get(input.body, "value", "?"),
	]),
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(["baseline", "time-of-day"], lib.medical_tags),
} if lib.deviation("off_hours")
