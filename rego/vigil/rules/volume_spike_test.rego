package vigil.rules.volume_spike_test

import data.vigil.fixtures
import data.vigil.main

spike := {
	"direction": "outbound", "peer": {"ip": "10.1.2.50", "port": 443}, "transport": "tcp", "port": 443,
	"baseline": object.union(fixtures.ready, {
		"metric": "bytes_per_hour", "observed": 52428800, "learned": 1048576,
		"threshold": 10485760, "ratio": 50, "samples": 23,
	}),
}

test_spike_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("volume_spike", spike)
	a.rule == "volume_spike"
	a.severity == "medium"
	a.title == "ws-radiology-3 moved 50 MiB in one hour (50x its learned 95th percentile)"
}

test_medical_spike_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("volume_spike", fixtures.pump, spike)
	a.severity == "high"
	"medical" in a.tags
}

test_silent_device if {
	body := json.patch(spike, [{"op": "remove", "path": "/baseline/ratio"}, {"op": "replace", "path": "/baseline/learned", "value": 0}])
	a := fixtures.only(main.alerts) with input as fixtures.deviation("volume_spike", body)
	a.title == "ws-radiology-3 moved 50 MiB in one hour (its learned hours were silent)"
}
