# Package vigil.main is the entry point the policy engine queries.
#
# It gathers what every rule package under vigil.rules asks for:
#
#   data.vigil.main.alerts   set of alert objects
#   data.vigil.main.enforce  set of enforcement requests
#
# A rule package (package vigil.rules.<name>) contributes by defining its own
# `alerts` and/or `enforce` sets. An alert without a "rule" field gets the
# package's last path segment <name> as its rule. Policies may also add to
# these two sets directly with `alerts contains ... if` in package vigil.main.
package vigil.main

# alerts is the set of alerts raised for input.
alerts contains object.union({"rule": name}, a) if {
	some name
	some a in data.vigil.rules[name].alerts
	is_object(a)
}

# Anything else a rule put in its alerts set is passed on unchanged: the
# engine reports it as invalid policy output instead of dropping it.
alerts contains a if {
	some name
	some a in data.vigil.rules[name].alerts
	not is_object(a)
}

# enforce is the set of block requests for input.
enforce contains e if {
	some name
	some e in data.vigil.rules[name].enforce
}
