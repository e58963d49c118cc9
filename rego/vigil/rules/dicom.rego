# Package vigil.rules.dicom raises an alert when DICOM flows where it
# should not: a new DICOM edge (a new_peer or new_port deviation with
# app_proto dicom) with an end that is not an imaging device, imaging
# workstation or PACS, or, when settings.pacs lists the archives, between
# two devices neither of which is a listed PACS. Images carry patient
# data: this is theft of operational information (T0882).
package vigil.rules.dicom

import data.vigil.lib

pacs := lib.setting("pacs", [])

# dicom_category(c) is true for the categories that speak DICOM:
# modalities (imaging_*), imaging workstations and the PACS.
dicom_category(c) if startswith(c, "imaging_")

dicom_category("pacs")

device := input.body.device

peer_category := object.get(input.body, "peer_category", "")

device_ok if dicom_category(lib.category(device))

device_ok if lib.device_listed(device, pacs)

peer_ok if dicom_category(peer_category)

peer_ok if lib.listed(lib.peer_ip, pacs)

# named(c) is a category for a human: "unknown" when there is none.
named(c) := c if c != "" else := "unknown"

reasons contains sprintf("%s is not an imaging device or PACS (category %s)", [
	lib.device_label(device),
	named(lib.category(device)),
]) if not device_ok

reasons contains sprintf("peer %s is not an imaging device or PACS (category %s)", [
	lib.peer_text,
	named(peer_category),
]) if not peer_ok

reasons contains "neither end is a PACS listed in settings.pacs" if {
	count(pacs) > 0
	not lib.device_listed(device, pacs)
	not lib.listed(lib.peer_ip, pacs)
}

firing if {
	lib.deviation_in({"new_peer", "new_port"})
	input.body.app_proto == "dicom"
	count(reasons) > 0
}

alerts contains {
	"rule": "dicom_outside_pacs",
	"severity": "high",
	"title": sprintf("%s exchanged DICOM with %s outside the imaging network", [lib.device_label(device), lib.peer_text]),
	"description": sprintf("%s DICOM stays between modalities and the PACS: %s. %s", [input.body.summary, concat("; ", sort(reasons)), lib.baseline_note]),
	"tags": array.concat(array.concat(["dicom"], lib.mitre(["T0882"])), lib.medical_tags),
} if firing
