package vigil.lib_test

import data.vigil.fixtures
import data.vigil.lib
import data.vigil.main

test_escalate if {
	lib.escalate("info") == "low"
	lib.escalate("high") == "critical"
	lib.escalate("critical") == "critical"
}

test_deescalate if {
	lib.deescalate("medium") == "low"
	lib.deescalate("info") == "info"
}

test_is_medical_by_category if lib.is_medical(fixtures.pump)

test_is_medical_by_attribute if lib.is_medical({"attributes": {"medical": "yes"}})

test_not_medical if {
	not lib.is_medical(fixtures.device)
	not lib.is_medical(fixtures.unknown)
	not lib.is_medical({"attributes": {"medical": "false"}})
}

test_not_a_deviation_raises_nothing if {
	count(main.alerts) == 0 with input as {"kind": "flow", "body": {"type": "internet"}}
	count(main.enforce) == 0 with input as {"kind": "flow", "body": {"type": "internet"}}
}

test_unknown_deviation_type_raises_nothing if {
	count(main.alerts) == 0 with input as fixtures.deviation("firmware_change", {})
}

test_internet_allowed if {
	lib.internet_allowed("192.0.2.10") with data.vigil.settings as {"internet_allow": ["192.0.2.0/28"]}
	not lib.internet_allowed("192.0.2.100") with data.vigil.settings as {"internet_allow": ["192.0.2.0/28"]}
	not lib.internet_allowed("192.0.2.10")
}

test_category if {
	lib.category(fixtures.ct) == "imaging_ct"
	lib.category(fixtures.device) == "workstation"
	lib.category(fixtures.unknown) == ""
}

test_listed if {
	lib.listed("10.30.0.5", ["10.30.0.5"])
	lib.listed("10.30.0.9", ["10.30.0.0/24"])
	not lib.listed("10.31.0.9", ["10.30.0.0/24", "10.30.0.5"])
	not lib.listed("", ["10.30.0.0/24"])
	lib.device_listed(fixtures.pacs, ["10.30.0.5"])
	not lib.device_listed(fixtures.unknown, ["10.30.0.5"])
}

test_bytes_text if {
	lib.bytes_text(512) == "512 B"
	lib.bytes_text(1536) == "1.5 KiB"
	lib.bytes_text(12 * 1048576) == "12 MiB"
	lib.bytes_text(2621440) == "2.5 MiB"
	lib.bytes_text(3 * 1073741824) == "3 GiB"
}

test_mitre if lib.mitre(["T0886", "T0859"]) == ["mitre:T0886", "mitre:T0859"]

site_settings := {
	"segments": {"guest": ["10.99.0.0/16"], "imaging": ["10.30.0.0/24", "10.31.0.5"]},
	"allowlists": {"vendor_remote": ["198.51.100.0/24"]},
	"device_groups": {"icu_pumps": ["10.20.0.17", "category:infusion_pump"], "spares": ["00:aa:bb:cc:dd:01"]},
}

test_segments_of if {
	lib.segments_of("10.99.3.4") == {"guest"} with data.vigil.settings as site_settings
	lib.segments_of("10.31.0.5") == {"imaging"} with data.vigil.settings as site_settings
	lib.segments_of("10.1.1.1") == set() with data.vigil.settings as site_settings
	lib.segments_of("10.1.1.1") == set()
	lib.in_segment("10.30.0.9", "imaging") with data.vigil.settings as site_settings
	not lib.in_segment("10.30.0.9", "guest") with data.vigil.settings as site_settings
}

test_allowlists if {
	lib.allowed("vendor_remote", "198.51.100.7") with data.vigil.settings as site_settings
	not lib.allowed("vendor_remote", "203.0.113.7") with data.vigil.settings as site_settings
	not lib.allowed("nope", "198.51.100.7") with data.vigil.settings as site_settings
}

test_device_groups if {
	lib.in_group({"ips": ["10.20.0.17"]}, "icu_pumps") with data.vigil.settings as site_settings
	lib.in_group({"ips": ["10.20.0.99"], "category": "infusion_pump"}, "icu_pumps") with data.vigil.settings as site_settings
	lib.in_group({"mac": "00:AA:BB:CC:DD:01"}, "spares") with data.vigil.settings as site_settings
	not lib.in_group({"ips": ["10.20.0.99"], "category": "ventilator"}, "icu_pumps") with data.vigil.settings as site_settings
	not lib.in_group({"ips": ["10.20.0.17"]}, "icu_pumps")
}
