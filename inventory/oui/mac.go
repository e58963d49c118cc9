package oui

// parseMAC reads a MAC address as a 48-bit number. It accepts
// "aa:bb:cc:dd:ee:ff" and "aa-bb-cc-dd-ee-ff" (one separator throughout),
// Cisco's "aabb.ccdd.eeff" and bare "aabbccddeeff", in either case.
func parseMAC(s string) (uint64, bool) {
	var v uint64
	ok := true
	digits := func(t string) {
		for i := 0; i < len(t); i++ {
			c := t[i]
			var d byte
			switch {
			case '0' <= c && c <= '9':
				d = c - '0'
			case 'a' <= c && c <= 'f':
				d = c - 'a' + 10
			case 'A' <= c && c <= 'F':
				d = c - 'A' + 10
			default:
				ok = false
			}
			v = v<<4 | uint64(d)
		}
	}
	switch len(s) {
	case 12:
		digits(s)
	case 14: // aabb.ccdd.eeff
		if s[4] != '.' || s[9] != '.' {
			return 0, false
		}
		digits(s[0:4])
		digits(s[5:9])
		digits(s[10:14])
	case 17: // aa:bb:cc:dd:ee:ff
		sep := s[2]
		if sep != ':' && sep != '-' {
			return 0, false
		}
		for i := 0; i < 6; i++ {
			if i > 0 && s[3*i-1] != sep {
				return 0, false
			}
			digits(s[3*i : 3*i+2])
		}
	default:
		return 0, false
	}
	return v, ok
}
