package inventory

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
)

// Asset is one row of a CMMS or asset-register export.
type Asset struct {
	Tag        string `json:"tag,omitempty"`
	Serial     string `json:"serial,omitempty"`
	MAC        string `json:"mac,omitempty"`
	IP         string `json:"ip,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	Vendor     string `json:"vendor,omitempty"`
	Model      string `json:"model,omitempty"`
	Category   string `json:"category,omitempty"`
	Site       string `json:"site,omitempty"`
	Department string `json:"department,omitempty"`
	Location   string `json:"location,omitempty"`
	Owner      string `json:"owner,omitempty"`
	// Line is the row's line in the file, for reports.
	Line int `json:"line"`
}

// registerColumns maps the column names CMMS exports use to Asset fields.
// Header names are matched case-insensitively, ignoring spaces, dashes and
// underscores.
var registerColumns = map[string]string{
	"assettag": "tag", "tag": "tag", "assetid": "tag", "assetnumber": "tag", "equipmentid": "tag", "controlnumber": "tag",
	"serial": "serial", "serialnumber": "serial", "sn": "serial",
	"mac": "mac", "macaddress": "mac", "hardwareaddress": "mac",
	"ip": "ip", "ipaddress": "ip",
	"hostname": "hostname", "host": "hostname", "devicename": "hostname", "name": "hostname",
	"manufacturer": "vendor", "vendor": "vendor", "make": "vendor",
	"model": "model", "modelname": "model", "modelnumber": "model",
	"category": "category", "devicetype": "category", "type": "category", "equipmenttype": "category",
	"site": "site", "facility": "site", "campus": "site",
	"department": "department", "dept": "department", "costcenter": "department",
	"location": "location", "room": "location",
	"owner": "owner", "responsible": "owner", "custodian": "owner",
}

// Register is an imported asset register, indexed for matching.
type Register struct {
	Assets []Asset
	byMAC  map[string]int
	bySN   map[string]int
	byHost map[string]int
}

// LoadRegisterFile reads a register CSV file (see LoadRegister).
func LoadRegisterFile(path string) (*Register, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("asset register: %w", err)
	}
	defer f.Close()
	return LoadRegister(f, path)
}

// LoadRegister reads a CSV export whose header names its columns. Rows
// with a problem (a malformed MAC, a duplicate MAC or serial) are reported
// with their line and left out; the good rows are kept, so one bad row
// never loses the register. The error joins every problem.
func LoadRegister(r io.Reader, name string) (*Register, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	cols := map[int]string{}
	for i, h := range header {
		k := strings.Map(func(r rune) rune {
			if r == ' ' || r == '_' || r == '-' || r == '\ufeff' {
				return -1
			}
			return r
		}, strings.ToLower(strings.TrimSpace(h)))
		if f, ok := registerColumns[k]; ok {
			cols[i] = f
		}
	}
	has := func(f string) bool {
		for _, v := range cols {
			if v == f {
				return true
			}
		}
		return false
	}
	if !has("mac") && !has("serial") && !has("hostname") {
		return nil, fmt.Errorf("%s: header %q has no column to match devices by (mac, serial or hostname)", name, strings.Join(header, ","))
	}
	reg := &Register{byMAC: map[string]int{}, bySN: map[string]int{}, byHost: map[string]int{}}
	var errs []error
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				continue
			}
			break
		}
		a := Asset{Line: line}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch cols[i] {
			case "tag":
				a.Tag = v
			case "serial":
				a.Serial = v
			case "mac":
				a.MAC = v
			case "ip":
				a.IP = v
			case "hostname":
				a.Hostname = v
			case "vendor":
				a.Vendor = v
			case "model":
				a.Model = v
			case "category":
				a.Category = v
			case "site":
				a.Site = v
			case "department":
				a.Department = v
			case "location":
				a.Location = v
			case "owner":
				a.Owner = v
			}
		}
		if a.MAC != "" {
			hw, err := net.ParseMAC(a.MAC)
			if err != nil || len(hw) != 6 {
				errs = append(errs, fmt.Errorf("%s:%d: mac %q is not an Ethernet address", name, line, a.MAC))
				continue
			}
			a.MAC = hw.String()
		}
		if a.MAC == "" && a.Serial == "" && a.Hostname == "" {
			errs = append(errs, fmt.Errorf("%s:%d: row has no mac, serial or hostname to match a device by", name, line))
			continue
		}
		if j, dup := reg.byMAC[a.MAC]; dup && a.MAC != "" {
			errs = append(errs, fmt.Errorf("%s:%d: mac %s already registered on line %d", name, line, a.MAC, reg.Assets[j].Line))
			continue
		}
		if j, dup := reg.bySN[norm(a.Serial)]; dup && a.Serial != "" {
			errs = append(errs, fmt.Errorf("%s:%d: serial %q already registered on line %d", name, line, a.Serial, reg.Assets[j].Line))
			continue
		}
		idx := len(reg.Assets)
		reg.Assets = append(reg.Assets, a)
		if a.MAC != "" {
			reg.byMAC[a.MAC] = idx
		}
		if a.Serial != "" {
			reg.bySN[norm(a.Serial)] = idx
		}
		if a.Hostname != "" {
			reg.byHost[norm(a.Hostname)] = idx
		}
	}
	return reg, errors.Join(errs...)
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// match finds the asset of a device: by MAC, then by serial number, then
// by host name.
func (r *Register) match(d *Device) *Asset {
	if r == nil {
		return nil
	}
	if i, ok := r.byMAC[d.MAC]; ok && d.MAC != "" {
		a := r.Assets[i]
		return &a
	}
	if s := d.Attr("serial"); s != "" {
		if i, ok := r.bySN[norm(s)]; ok {
			a := r.Assets[i]
			return &a
		}
	}
	if h := d.Attr("hostname"); h != "" {
		if i, ok := r.byHost[norm(h)]; ok {
			a := r.Assets[i]
			return &a
		}
	}
	return nil
}

// Reconciliation compares the register with what the network shows.
type Reconciliation struct {
	// Matched counts devices matched to a register row.
	Matched int `json:"matched"`
	// ExpectedNotSeen are registered assets no device matched.
	ExpectedNotSeen []Asset `json:"expected_not_seen"`
	// SeenNotRegistered are devices with no register row (routers and
	// devices known by IP only are left out: they cannot be matched).
	SeenNotRegistered []DeviceRef `json:"seen_not_registered"`
	// Conflicts are fields where the register and the device disagree.
	Conflicts []Conflict `json:"conflicts"`
}

// DeviceRef names a device in a report.
type DeviceRef struct {
	ID       string   `json:"id"`
	MAC      string   `json:"mac,omitempty"`
	IPs      []string `json:"ips,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Category string   `json:"category,omitempty"`
	Vendor   string   `json:"vendor,omitempty"`
}

// Conflict is a disagreement between the register and the network.
type Conflict struct {
	Device     string `json:"device"`
	AssetTag   string `json:"asset_tag,omitempty"`
	Line       int    `json:"line"`
	Field      string `json:"field"`
	Registered string `json:"registered"`
	Observed   string `json:"observed"`
	// ObservedFrom is the protocol that reported the observed value.
	ObservedFrom string `json:"observed_from"`
}

// Reconcile compares the register with the devices.
func (r *Register) Reconcile(devices []Device) Reconciliation {
	rec := Reconciliation{ExpectedNotSeen: []Asset{}, SeenNotRegistered: []DeviceRef{}, Conflicts: []Conflict{}}
	seen := make([]bool, len(r.Assets))
	for i := range devices {
		d := &devices[i]
		if d.Gateway || d.Routed {
			continue
		}
		a := r.match(d)
		if a == nil {
			rec.SeenNotRegistered = append(rec.SeenNotRegistered, DeviceRef{ID: d.ID, MAC: d.MAC, IPs: d.CurrentIPs(),
				Hostname: d.Attr("hostname"), Category: d.Classification.Category, Vendor: d.Attr("vendor")})
			continue
		}
		rec.Matched++
		for j := range r.Assets {
			if r.Assets[j].Line == a.Line {
				seen[j] = true
			}
		}
		check := func(field, registered, attr string) {
			at := d.attribute(attr)
			if registered == "" || at == nil || at.Protocol == "register" {
				return
			}
			if !strings.EqualFold(strings.TrimSpace(registered), at.Value) && !strings.Contains(strings.ToLower(at.Value), strings.ToLower(registered)) {
				rec.Conflicts = append(rec.Conflicts, Conflict{Device: d.ID, AssetTag: a.Tag, Line: a.Line, Field: field,
					Registered: registered, Observed: at.Value, ObservedFrom: at.Protocol})
			}
		}
		check("serial", a.Serial, "serial")
		check("model", a.Model, "model")
		if a.MAC != "" && d.MAC != "" && a.MAC != d.MAC {
			rec.Conflicts = append(rec.Conflicts, Conflict{Device: d.ID, AssetTag: a.Tag, Line: a.Line, Field: "mac",
				Registered: a.MAC, Observed: d.MAC, ObservedFrom: "traffic"})
		}
	}
	for j, ok := range seen {
		if !ok {
			rec.ExpectedNotSeen = append(rec.ExpectedNotSeen, r.Assets[j])
		}
	}
	slices.SortFunc(rec.SeenNotRegistered, func(a, b DeviceRef) int { return strings.Compare(a.ID, b.ID) })
	return rec
}

// applyAsset attaches a register row to a device: its organisation wins
// over the network map (it names the room), and its identity fields
// become low-priority attributes.
func (m *Model) applyAsset(d *Device, a *Asset) {
	d.Asset = a
	if a.Department != "" || a.Location != "" || a.Site != "" {
		o := d.Org
		o.Source = "register"
		if a.Site != "" {
			o.Site = a.Site
		}
		if a.Department != "" {
			o.Department = a.Department
		}
		if a.Location != "" {
			o.Location = a.Location
		}
		d.Org = o
	}
	ev := fmt.Sprintf("asset register line %d", a.Line)
	for _, f := range [][2]string{{"vendor", a.Vendor}, {"model", a.Model}, {"serial", a.Serial}, {"hostname", a.Hostname}, {"asset_tag", a.Tag}, {"owner", a.Owner}} {
		if f[1] != "" {
			m.setAttr(d, f[0], f[1], "register", 0.5, ev, d.LastSeen, "", "")
		}
	}
}
