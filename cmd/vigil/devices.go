package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/internal/report"
	"github.com/vigil-health/vigil/inventory"
)

func newDevicesCommand(g *globalOptions) *cobra.Command {
	var (
		server        string
		asJSON, asCSV bool
		learn         time.Duration
		register      string
		filters       = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   "devices [CAPTURE...]",
		Short: "List the device inventory, from a running Vigil or from captures",
		Long: `Devices prints the inventory: every device with its category, criticality,
vendor, model and addresses. With --server it asks a running Vigil (its
HTTP API); with capture files it analyses them offline first, as vigil
analyze does. Filters narrow the list; --json prints every device with its
attributes and their evidence, --csv a spreadsheet.`,
		Example: `  vigil devices --server http://127.0.0.1:8080 --medical true --sort -criticality
  vigil devices --csv ward.pcap > inventory.csv
  vigil devices --category infusion_pump --json ward.pcap`,
		RunE: func(cmd *cobra.Command, files []string) error {
			if asJSON && asCSV {
				return errors.New("--json and --csv: choose one")
			}
			params := url.Values{}
			for name, v := range filters {
				if *v != "" {
					params.Set(name, *v)
				}
			}
			q, err := inventory.ParseQuery(params)
			if err != nil {
				return fmt.Errorf("filter %w", err)
			}
			var page inventory.Page
			switch {
			case server != "" && len(files) > 0:
				return errors.New("--server or captures: give one source, not both")
			case server != "":
				if page, err = fetchDevices(cmd, server, params); err != nil {
					return err
				}
			case len(files) > 0:
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				logger, err := g.logger(os.Stderr)
				if err != nil {
					return err
				}
				var devices []inventory.Device
				_, err = analysis{files: files, learn: learn, hold: func(eng *engines, _ *report.Report) error {
					devices = eng.inventory.Devices()
					return nil
				}}.run(cmd.Context(), cfg, logger)
				if err != nil {
					return err
				}
				page = q.Select(devices)
			default:
				return errors.New("give --server URL (a running vigil) or capture files to analyse")
			}
			out := cmd.OutOrStdout()
			if register != "" {
				reg, rerr := inventory.LoadRegisterFile(register)
				if reg == nil {
					return rerr
				}
				if rerr != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "vigil: register rows skipped:\n%v\n", rerr)
				}
				return writeReconciliation(out, reg.Reconcile(page.Devices), asJSON)
			}
			switch {
			case asCSV:
				return inventory.WriteCSV(out, page.Devices)
			case asJSON:
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(page)
			}
			return writeDeviceTable(out, page)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "URL of a running vigil's HTTP API, e.g. http://127.0.0.1:8080")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: every device with attributes and evidence")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	cmd.Flags().DurationVar(&learn, "learn", 0, "learning window when analysing captures")
	cmd.Flags().StringVar(&register, "reconcile", "", "compare the devices with this asset-register CSV (CMMS export) and print the differences")
	for _, f := range []struct{ name, usage string }{
		{"q", "search: substring of ID, MAC, IP, hostname, vendor, model, serial or category"},
		{"category", "category, e.g. infusion_pump, patient_monitor, pacs"},
		{"criticality", "life_sustaining, patient_connected, clinical_support or non_clinical"},
		{"medical", "true or false"},
		{"vendor", "substring of the vendor"},
		{"site", "site"},
		{"department", "department"},
		{"vlan", "VLAN ID"},
		{"online", "true or false"},
		{"sort", "id, key, last_seen, first_seen, ip, hostname, category, criticality, vendor, bytes; -field reverses"},
		{"limit", "at most this many devices"},
		{"offset", "skip this many devices"},
	} {
		filters[f.name] = cmd.Flags().String(f.name, "", f.usage)
	}
	return cmd
}

// fetchDevices asks a running vigil for the devices.
func fetchDevices(cmd *cobra.Command, server string, params url.Values) (inventory.Page, error) {
	var page inventory.Page
	err := newAPIClient(server).json(cmd.Context(), http.MethodGet, "/api/v1/devices", params, nil, "", &page)
	return page, err
}

func writeDeviceTable(w io.Writer, page inventory.Page) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMAC\tIP\tHOSTNAME\tCATEGORY\tCRITICALITY\tVENDOR\tMODEL\tDEPARTMENT\tSTATE")
	for i := range page.Devices {
		d := &page.Devices[i]
		cat := d.Classification.Category
		if d.Classification.Medical {
			cat += " (medical)"
		}
		state := "offline"
		if d.Online {
			state = "online"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.MAC), dash(strings.Join(d.CurrentIPs(), ",")),
			dash(d.Attr("hostname")), dash(cat), dash(string(d.Classification.Criticality)), dash(d.Attr("vendor")),
			dash(d.Attr("model")), dash(d.Org.Department), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d of %d devices\n", len(page.Devices), page.Total)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeReconciliation(w io.Writer, rec inventory.Reconciliation, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	fmt.Fprintf(w, "%d devices matched to the register\n", rec.Matched)
	fmt.Fprintf(w, "\nExpected but not seen (%d)\n", len(rec.ExpectedNotSeen))
	for _, a := range rec.ExpectedNotSeen {
		fmt.Fprintf(w, "  line %d  %s  %s %s  serial %s  mac %s  %s\n", a.Line, dash(a.Tag), dash(a.Vendor), dash(a.Model), dash(a.Serial), dash(a.MAC), dash(a.Department))
	}
	fmt.Fprintf(w, "\nSeen but not registered (%d)\n", len(rec.SeenNotRegistered))
	for _, d := range rec.SeenNotRegistered {
		fmt.Fprintf(w, "  %s  %s  %s  %s  %s  %s\n", d.ID, dash(d.MAC), dash(strings.Join(d.IPs, ",")), dash(d.Hostname), dash(d.Category), dash(d.Vendor))
	}
	fmt.Fprintf(w, "\nConflicts (%d)\n", len(rec.Conflicts))
	for _, c := range rec.Conflicts {
		fmt.Fprintf(w, "  %s (%s, line %d): %s registered %q, observed %q (%s)\n", c.Device, dash(c.AssetTag), c.Line, c.Field, c.Registered, c.Observed, c.ObservedFrom)
	}
	return nil
}
