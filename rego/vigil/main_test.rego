package vigil.main_test

import data.vigil.fixtures
import data.vigil.main

# A site rule package without a "rule" field gets its package name.
test_rule_defaults_to_package_name if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_device", {})
		with data.vigil.rules as {"site_rule": {"alerts": {{"severity": "low", "title": "t"}}}}
	a.rule == "site_rule"
}

test_explicit_rule_wins if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_device", {})
		with data.vigil.rules as {"site_rule": {"alerts": {{"rule": "mine", "severity": "low", "title": "t"}}}}
	a.rule == "mine"
}

test_non_object_alert_is_passed_on if {
	main.alerts == {"oops"} with data.vigil.rules as {"site_rule": {"alerts": {"oops"}}}
}
