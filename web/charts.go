package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// The charts are SVG written here, on the server: no script, no external
// service, the same picture for the same data, readable by a screen
// reader through its title and a table beside it.

// svgEscape escapes text for SVG.
func svgEscape(s string) string { return template.HTMLEscapeString(s) }

// Bar is one bar of a bar chart; Class colours it (a criticality, a
// severity, a state).
type Bar struct {
	Label string
	Value float64
	Class string
	// Href makes the bar a link (to the filtered inventory, say).
	Href string
	// Text is shown at the end of the bar instead of the value.
	Text string
}

// barChart draws horizontal bars, largest scale first, with labels on the
// left.
func barChart(title string, bars []Bar) template.HTML {
	if len(bars) == 0 {
		return template.HTML(`<p class="empty">No data.</p>`)
	}
	const rowH, labelW, barW, textW = 24, 150, 220, 60
	maxV := 0.0
	for _, b := range bars {
		maxV = math.Max(maxV, b.Value)
	}
	h := rowH*len(bars) + 4
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart bars" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		labelW+barW+textW, h, svgEscape(title), svgEscape(title))
	for i, b := range bars {
		y := i*rowH + 2
		w := 0.0
		if maxV > 0 {
			w = math.Max(1, b.Value/maxV*barW)
		}
		text := b.Text
		if text == "" {
			text = fmtNum(b.Value)
		}
		if b.Href != "" {
			fmt.Fprintf(&sb, `<a href="%s">`, svgEscape(b.Href))
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text>`, labelW-8, y+16, svgEscape(truncate(b.Label, 22)))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" rx="3" class="bar %s"/>`, labelW, y+3, w, rowH-8, svgEscape(b.Class))
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="val">%s</text>`, float64(labelW)+w+6, y+16, svgEscape(text))
		if b.Href != "" {
			sb.WriteString(`</a>`)
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// Segment is one part of a stacked bar.
type Segment struct {
	Class string
	Value float64
	Name  string
}

// StackRow is one stacked bar.
type StackRow struct {
	Label    string
	Href     string
	Segments []Segment
	// Note is written after the bar (a risk score, say).
	Note string
}

// stackedChart draws one horizontal stacked bar per row, scaled to the
// largest total.
func stackedChart(title string, rows []StackRow) template.HTML {
	return stackedChartMax(title, rows, 0)
}

// stackedChartMax is stackedChart on a fixed scale (a score out of 100)
// when maxV is positive.
func stackedChartMax(title string, rows []StackRow, maxV float64) template.HTML {
	if len(rows) == 0 {
		return template.HTML(`<p class="empty">No data.</p>`)
	}
	const rowH, labelW, barW, textW = 26, 150, 210, 130
	for _, r := range rows {
		t := 0.0
		for _, s := range r.Segments {
			t += s.Value
		}
		maxV = math.Max(maxV, t) // a fixed scale grows only if a row exceeds it
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart stacked" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		labelW+barW+textW, rowH*len(rows)+4, svgEscape(title), svgEscape(title))
	for i, r := range rows {
		y := i*rowH + 2
		if r.Href != "" {
			fmt.Fprintf(&sb, `<a href="%s">`, svgEscape(r.Href))
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text>`, labelW-8, y+17, svgEscape(truncate(r.Label, 22)))
		x, total := float64(labelW), 0.0
		for _, s := range r.Segments {
			if s.Value <= 0 || maxV == 0 {
				continue
			}
			w := s.Value / maxV * barW
			fmt.Fprintf(&sb, `<rect x="%.1f" y="%d" width="%.1f" height="%d" class="bar %s"><title>%s: %s</title></rect>`,
				x, y+4, w, rowH-9, svgEscape(s.Class), svgEscape(s.Name), fmtNum(s.Value))
			x += w
			total += s.Value
		}
		note := r.Note
		if note == "" {
			note = fmtNum(total)
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="val">%s</text>`, x+6, y+17, svgEscape(note))
		if r.Href != "" {
			sb.WriteString(`</a>`)
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// Series is one line of a time chart.
type Series struct {
	Name   string
	Class  string
	Values []float64
}

// timeChart draws series over time as areas (stacked: false) or stacked
// columns (stacked: true), with a time axis of about six labels.
func timeChart(title string, times []time.Time, series []Series, stacked bool, unit string) template.HTML {
	if len(times) == 0 {
		return template.HTML(`<p class="empty">No data in this window.</p>`)
	}
	const w, h, left, right, bottom, top = 640, 190, 56, 24, 22, 20
	plotW, plotH := float64(w-left-right), float64(h-bottom-top)
	n := len(times)
	maxV := 0.0
	for i := range n {
		sum := 0.0
		for _, s := range series {
			if stacked {
				sum += s.Values[i]
			} else {
				maxV = math.Max(maxV, s.Values[i])
			}
		}
		maxV = math.Max(maxV, sum)
	}
	if maxV == 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV)
	if unit == "" && maxV < 4 {
		maxV = 4 // counts: whole numbers on the axis
	} else if unit == "" && maxV < 40 {
		maxV = float64((int(maxV) + 3) / 4 * 4)
	}
	x := func(i int) float64 { return float64(left) + plotW*float64(i)/float64(max(n-1, 1)) }
	y := func(v float64) float64 { return float64(top) + plotH*(1-v/maxV) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart time" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, w, h, svgEscape(title), svgEscape(title))
	for k := 0; k <= 4; k++ {
		v := maxV * float64(k) / 4
		fmt.Fprintf(&sb, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>`, left-4, y(v)+4, svgEscape(fmtUnit(v, unit)))
	}
	labels := 6
	for k := 0; k < labels; k++ {
		i := k * (n - 1) / max(labels-1, 1)
		layout := "15:04"
		if times[n-1].Sub(times[0]) > 48*time.Hour {
			layout = "Jan 2"
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, x(i), h-6, times[i].UTC().Format(layout))
	}
	if stacked {
		colW := math.Max(1, plotW/float64(n)*0.8)
		for i := range n {
			base := 0.0
			for _, s := range series {
				v := s.Values[i]
				if v <= 0 {
					continue
				}
				fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar %s"><title>%s %s: %s</title></rect>`,
					x(i)-colW/2, y(base+v), colW, y(base)-y(base+v), svgEscape(s.Class), times[i].UTC().Format("15:04"), svgEscape(s.Name), fmtNum(v))
				base += v
			}
		}
	} else {
		for _, s := range series {
			var pts strings.Builder
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(0), y(0))
			for i, v := range s.Values {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", x(n-1), y(0))
			fmt.Fprintf(&sb, `<polygon points="%s" class="area %s"><title>%s</title></polygon>`, pts.String(), svgEscape(s.Class), svgEscape(s.Name))
		}
	}
	sb.WriteString(`<g class="legend">`)
	lx := left
	for _, s := range series {
		fmt.Fprintf(&sb, `<rect x="%d" y="0" width="10" height="10" class="bar %s"/><text x="%d" y="9" class="axis">%s</text>`, lx, svgEscape(s.Class), lx+14, svgEscape(s.Name))
		lx += 14 + 7*len(s.Name) + 16
	}
	sb.WriteString(`</g></svg>`)
	return template.HTML(sb.String())
}

// MapNode is a peer on the communication map.
type MapNode struct {
	Label string
	Sub   string
	Href  string
	// Class is the peer's criticality, or "external".
	Class string
	Bytes float64
	Flows uint64
}

// peerMap draws the device in the middle and its peers on a circle,
// heaviest first from the top, clockwise: the same peers always land in
// the same places. Line width grows with the log of the bytes.
func peerMap(title, center, centerClass string, peers []MapNode) template.HTML {
	const w, h = 640, 400
	cx, cy, r := float64(w)/2, float64(h)/2, 150.0
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart map" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, w, h, svgEscape(title), svgEscape(title))
	maxB := 1.0
	for _, p := range peers {
		maxB = math.Max(maxB, p.Bytes)
	}
	type pos struct{ x, y float64 }
	at := make([]pos, len(peers))
	for i := range peers {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(max(len(peers), 1))
		at[i] = pos{cx + r*math.Cos(a), cy + r*0.8*math.Sin(a)}
	}
	for i, p := range peers {
		width := 1 + 5*math.Log1p(p.Bytes)/math.Log1p(maxB)
		fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="edge %s" stroke-width="%.1f"><title>%s: %s, %d flows</title></line>`,
			cx, cy, at[i].x, at[i].y, svgEscape(p.Class), width, svgEscape(p.Label), fmtBytes(p.Bytes), p.Flows)
	}
	for i, p := range peers {
		if p.Href != "" {
			fmt.Fprintf(&sb, `<a href="%s">`, svgEscape(p.Href))
		}
		anchor := "middle"
		dx := 0.0
		switch {
		case at[i].x > cx+20:
			anchor, dx = "start", 12
		case at[i].x < cx-20:
			anchor, dx = "end", -12
		}
		fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="8" class="node %s"/>`, at[i].x, at[i].y, svgEscape(p.Class))
		ly := at[i].y + 4
		if anchor == "middle" {
			if at[i].y < cy {
				ly = at[i].y - 14
			} else {
				ly = at[i].y + 22
			}
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="%s" class="nlbl">%s</text>`, at[i].x+dx, ly, anchor, svgEscape(truncate(p.Label, 24)))
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="%s" class="nsub">%s</text>`, at[i].x+dx, ly+12, anchor, svgEscape(truncate(p.Sub, 28)))
		if p.Href != "" {
			sb.WriteString(`</a>`)
		}
	}
	fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="16" class="node center %s"/>`, cx, cy, svgEscape(centerClass))
	fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="middle" class="nlbl center">%s</text>`, cx, cy+32, svgEscape(truncate(center, 28)))
	if len(peers) == 0 {
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="middle" class="axis">no peers in this window</text>`, cx, cy+60)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtUnit(v float64, unit string) string {
	if unit == "B" {
		return fmtBytes(v)
	}
	return fmtNum(v)
}

// fmtBytes writes a byte count with a binary unit.
func fmtBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
