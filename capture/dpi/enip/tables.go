package enip

// vendors maps ODVA-assigned CIP vendor IDs to vendor names: a small set
// of automation vendors whose EtherNet/IP devices reach hospital plant
// rooms, each checked against Wireshark 4.0.17's table (cip_vendor_vals in
// epan/dissectors/packet-cip.c, as shipped in Debian 12's libwireshark16):
// a ListIdentity reply carrying each ID was decoded with tshark and the
// name copied verbatim. ODVA's vendor list is the authority; extend the
// table only with IDs checked the same way.
var vendors = map[uint16]string{
	1:   "Rockwell Automation/Allen-Bradley",
	3:   "Honeywell Inc.",
	5:   "Rockwell Automation/Reliance Elec.",
	8:   "Molex Incorporated",
	26:  "Festo Corporation",
	40:  "Wago Corporation",
	44:  "Yaskawa Electric America, Inc.",
	46:  "ABB Industrial Systems",
	47:  "Omron Corporation",
	48:  "TURCk, Inc.",
	58:  "Spectrum Controls, Inc.",
	68:  "Eaton Electrical",
	90:  "HMS Industrial Networks AB",
	108: "Beckhoff Automation GmbH",
	143: "GE Industrial Systems",
	145: "Siemens Energy & Automation/Drives",
	161: "Mitsubishi Electric Corporation",
	176: "Red Lion Controls",
	243: "Schneider Automation, Inc.",
	250: "Yokogawa Electric Corporation",
	283: "Hilscher GmbH",
	309: "Prosoft Technology",
	326: "GE Fanuc Automation North America, Inc.",
	367: "Keyence Corporation",
	562: "Phoenix Contact",
}

// deviceTypes maps CIP device profile numbers (the Identity object's
// Device Type, CIP Networks Library Volume 1 chapter 6) to their names,
// all the profiles Wireshark 4.0.17's cip_devtype_vals (packet-cip.c)
// knows, checked the same way as vendors. Wireshark spells profile 29
// "Process Control Value"; the profile is the Process Control Valve.
var deviceTypes = map[uint16]string{
	0:   "Generic Device (deprecated)",
	2:   "AC Drive",
	3:   "Motor Overload",
	4:   "Limit Switch",
	5:   "Inductive Proximity Switch",
	6:   "Photoelectric Sensor",
	7:   "General Purpose Discrete I/O",
	9:   "Resolver",
	12:  "Communications Adapter",
	14:  "Programmable Logic Controller",
	16:  "Position Controller",
	19:  "DC Drive",
	21:  "Contactor",
	22:  "Motor Starter",
	23:  "Soft Start",
	24:  "Human-Machine Interface",
	26:  "Mass Flow Controller",
	27:  "Pneumatic Valve",
	28:  "Vacuum Pressure Gauge",
	29:  "Process Control Valve",
	30:  "Residual Gas Analyzer",
	31:  "DC Power Generator",
	32:  "RF Power Generator",
	33:  "Turbomolecular Vacuum Pump",
	34:  "Encoder",
	35:  "Safety Discrete I/O Device",
	36:  "Fluid Flow Controller",
	37:  "CIP Motion Drive",
	38:  "CompoNet Repeater",
	39:  "Mass Flow Controller, Enhanced",
	40:  "CIP Modbus Device",
	41:  "CIP Modbus Translator",
	42:  "Safety Analog I/O Device",
	43:  "Generic Device (keyable)",
	44:  "Managed Ethernet Switch",
	45:  "CIP Motion Safety Drive Device",
	46:  "Safety Drive Device",
	47:  "CIP Motion Encoder",
	48:  "CIP Motion Converter",
	49:  "CIP Motion I/O",
	50:  "ControlNet Physical Layer Component",
	51:  "Circuit Breaker",
	52:  "HART Device",
	53:  "CIP-HART Translator",
	200: "Embedded Component",
}
