# Package vigil.rules.auth_failures raises an alert on a burst of failed
# authentication attempts (the baseline's auth_failures deviation:
# baseline.auth_threshold failures within baseline.auth_window, Zeek's
# brute-force rule). Raised during learning too: a brute force is never
# normal.
package vigil.rules.auth_failures

import data.vigil.lib

inbound if input.body.direction == "inbound"

# A brute force is high. Rejected DICOM associations are medium: a
# modality with a mistyped AE title retries the same way. A medical device
# guessing passwords is likely compromised: one step up.
base_severity := "medium" if input.body.app_proto == "dicom" else := "high"

severity := lib.escalate(base_severity) if {
	not inbound
	lib.is_medical(input.body.device)
} else := base_severity

title := sprintf("%s refused %d %s logins from %s", [
	lib.device_label(input.body.device),
	object.get(input.body, "count", 0),
	object.get(input.body, "app_proto", "unknown"),
	lib.peer_text,
]) if {
	inbound
} else := sprintf("%s failed %d %s logins against %s", [
	lib.device_label(input.body.device),
	object.get(input.body, "count", 0),
	object.get(input.body, "app_proto", "unknown"),
	lib.peer_text,
])

alerts contains {
	"rule": "authentication_failure_burst",
	"severity": severity,
	"title": title,
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	# Password guessing (Brute Force, T1110) to obtain Valid Accounts (T0859).
	"tags": array.concat(array.concat(["credential-access"], lib.mitre(["T0859", "T1110"])), lib.medical_tags),
} if lib.deviation("auth_failures")
