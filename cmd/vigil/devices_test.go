package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/internal/synth"
	"github.com/vigil-health/vigil/inventory"
)

func TestDevicesCommand(t *testing.T) {
	capture, _ := wardCapture(t, synth.Options{})

	out, stderr, err := vigil(t, "devices", "--category", "infusion_pump", "--json", capture)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var page inventory.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	if page.Total != 3 {
		t.Errorf("%d infusion pumps, the ward has 3", page.Total)
	}
	for _, d := range page.Devices {
		if d.Classification.Criticality != "life_sustaining" || !d.Classification.Medical || len(d.Classification.Because) == 0 {
			t.Errorf("%s: classification %+v", d.ID, d.Classification)
		}
	}

	out, _, err = vigil(t, "devices", "--csv", "--sort", "-criticality", capture)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 15 || rows[0][0] != "id" || rows[1][7] != "life_sustaining" {
		t.Errorf("csv: %v %d rows, first %v", err, len(rows), rows[:min(2, len(rows))])
	}

	reg := filepath.Join(t.TempDir(), "cmms.csv")
	os.WriteFile(reg, []byte("Asset Tag,MAC Address,Model,Serial Number\n"+
		"BME-1,00:12:21:4e:0a:11,Perfusor Space,SN1\n"+
		"BME-2,00:12:21:4e:0a:99,Perfusor Space,SN2\n"+
		"BME-3,44:4b:5d:21:7c:03,Revolution EVO,SYN-CT-999\n"), 0o600)
	out, _, err = vigil(t, "devices", "--reconcile", reg, "--json", capture)
	if err != nil {
		t.Fatal(err)
	}
	var rec inventory.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Matched != 2 || len(rec.ExpectedNotSeen) != 1 || rec.ExpectedNotSeen[0].Tag != "BME-2" ||
		len(rec.Conflicts) != 1 || rec.Conflicts[0].Observed != "SYN-CT-000123" || len(rec.SeenNotRegistered) != 12 {
		t.Errorf("reconciliation %+v", rec)
	}

	if _, _, err := vigil(t, "devices", "--medical", "maybe", capture); err == nil || !strings.Contains(err.Error(), "medical") {
		t.Errorf("bad filter: %v", err)
	}
	if _, _, err := vigil(t, "devices"); err == nil || !strings.Contains(err.Error(), "--server") {
		t.Errorf("no source: %v", err)
	}
}
